extends Node
## The suite run's main scene: runs every test script, prints the STB-* lines of
## README.md, and quits with the number of failures.

const TestContext := preload("test_context.gd")
const EngineErrorCounter := preload("engine_error_counter.gd")
const TEST_SCRIPTS: Array[Script] = [
	preload("test_scripts_compile.gd"),
	preload("test_scene_paths.gd"),
	preload("test_http.gd"),
	preload("test_request_reader.gd"),
	preload("test_frames.gd"),
	preload("test_bridge_logger.gd"),
	preload("test_telemetry_server.gd"),
	preload("test_editor_services.gd"),
	preload("test_scene_loader.gd"),
	preload("test_player_tracker.gd"),
	preload("test_settings.gd"),
	preload("test_bridge_node.gd"),
]


func _ready() -> void:
	var counter: EngineErrorCounter = EngineErrorCounter.new()
	OS.add_logger(counter)
	var ctx: TestContext = TestContext.new()
	ctx.host = self
	for script: Script in TEST_SCRIPTS:
		var test: RefCounted = script.new()
		test.call("run", ctx)
	ctx.check("no engine error during the suite", counter.errors == 0, counter.last)
	OS.remove_logger(counter)
	print("STB-DONE passed=%d failed=%d" % [ctx.passed, ctx.failed])
	get_tree().quit(ctx.failed)
