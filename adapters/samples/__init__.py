"""Deterministic sample data shared by the department adapters: one population of Zhengzhou residents
that the police register, the civil-affairs registry and the market regulator all see consistently."""
