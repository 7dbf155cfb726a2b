"""Godot command lines, scene paths and the bridge HTTP client."""
