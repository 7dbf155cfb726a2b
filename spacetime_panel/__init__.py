"""SpaceTime Panel: control panel and headless supervisor for Godot 4.5 VR development."""

__version__ = "0.1.0"
