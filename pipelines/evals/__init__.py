"""Behavioural evals: scenarios that check how the agent behaves, graded on what it did (its
normalised trajectory) and what it left (its patch, the gates on it), replayed from recorded
model traffic through the real agent CLI, or run live against the model.
"""
