"""Supervision of the Godot programs: pure state machine and policy, asyncio runner."""
