"""The 3-Way Press Log Report, the per-lead log and the per-number figures.

`model` reads the rows and computes what the reports show; `text` renders the terminal table,
VICIdial's CSV download and JSON; `html` renders one self-contained page with a chart.
"""
