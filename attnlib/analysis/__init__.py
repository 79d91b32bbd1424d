"""Analysis: statistics, summaries and claims with verdicts computed from the
result tables, and the sentences the chapters print. Nothing here draws.
"""
