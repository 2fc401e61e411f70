"""`python -m unitscope` (and `torchrun -m unitscope ...`): the command line."""

import sys

from .cli import main

sys.exit(main())
