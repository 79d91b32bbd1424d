"""Presentation: Altair charts, ipywidgets explorers and heatmaps drawn from
result tables and explorer payloads. Nothing here computes a test.
"""
