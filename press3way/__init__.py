"""press3way: VICIdial's 3-way press-1 transfer, as two AGI scripts and a `press3way` command.

Kept empty on purpose: the AGI scripts import only what their leg needs.
"""

__version__ = "0.1.0"
