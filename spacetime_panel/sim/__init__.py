"""A simulated Godot that speaks the bridge protocol, for tests and --demo."""
