"""Tabular models: units of MLPs whose input is a feature vector (visualize, examples, dissect).

The built-in `tabular-toy` reads the 30 features of scikit-learn's breast-cancer table; any
`nn.Module` whose first layer with weights is a `Linear` is read the same way (see `table.py`).
"""
