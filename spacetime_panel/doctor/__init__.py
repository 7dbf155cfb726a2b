"""`spacetime-panel doctor`: what this machine lacks to run the panel and Godot, and the fix.

Nothing here imports Qt: Qt aborts the process when its xcb libraries are
missing, which is one of the things this package reports.
"""
