@tool
extends EditorPlugin
## Registers the bridge autoload when the plugin is enabled, removes it when disabled.
##
## Only the enable/disable hooks touch the autoload: the editor calls them once
## per user action, so opening a project never rewrites project.godot.

const AUTOLOAD_NAME := "SpaceTimeBridge"
const AUTOLOAD_PATH := "res://addons/spacetime_bridge/bridge.gd"


func _enable_plugin() -> void:
	add_autoload_singleton(AUTOLOAD_NAME, AUTOLOAD_PATH)


func _disable_plugin() -> void:
	remove_autoload_singleton(AUTOLOAD_NAME)
