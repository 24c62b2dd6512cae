"""The fault tests import the integration tests' helpers (k3lbtest) and the lab (contrib/lab),
as the integration tests do: one place puts both on the path."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../integration"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../.."))
