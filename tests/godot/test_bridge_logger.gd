extends RefCounted
## The Logger that turns engine errors and printed lines into telemetry events.

const TestContext := preload("test_context.gd")
const BridgeLogger := preload("res://addons/spacetime_bridge/bridge_logger.gd")
const Frames := preload("res://addons/spacetime_bridge/telemetry_frames.gd")

const NOW := 1767225600.5


func run(ctx: TestContext) -> void:
	var logger: BridgeLogger = BridgeLogger.new()
	var no_backtraces: Array[ScriptBacktrace] = []
	logger._log_error(
		"_ready",
		"res://player.gd",
		12,
		"",
		"Invalid call",
		false,
		Logger.ERROR_TYPE_SCRIPT,
		no_backtraces
	)
	logger._log_error(
		"", "core/io/x.cpp", 7, "p_x != 0", "", false, Logger.ERROR_TYPE_WARNING, no_backtraces
	)
	logger._log_message("hello from the game\n", false)
	logger._log_message("to stderr\n", true)
	logger._log_message("\n", false)
	var events: Array[Dictionary] = logger.drain()
	var kinds: Array[String] = []
	for event: Dictionary in events:
		kinds.append("%s/%s" % [event["event"], event["data"].get("level", "")])
		var document: Dictionary = Frames.frame(event["event"], event["data"], NOW)
		print("STB-JSON telemetry_frame %s" % Frames.to_text(document))
	ctx.check(
		"logger: a script error, a warning, a line and an error line, in order",
		kinds == ["error/", "log/warning", "log/info", "log/error"],
		"got %s" % [kinds]
	)
	if events.size() == 4:
		var error: Dictionary = events[0]["data"]
		ctx.check(
			"logger: an error says its message and where it came from",
			(
				error["message"] == "Invalid call"
				and error["source"] == "res://player.gd:12 @ _ready()"
			),
			JSON.stringify(error)
		)
		ctx.check(
			"logger: a printed line loses its newline",
			events[2]["data"]["message"] == "hello from the game",
			JSON.stringify(events[2])
		)
	ctx.check("logger: drain empties the queue", logger.drain().is_empty(), "events left")
	for index: int in BridgeLogger.MAX_QUEUE + 44:
		logger._log_message("line %d" % index, false)
	var kept: Array[Dictionary] = logger.drain()
	ctx.check(
		"logger: the queue is bounded; the newest past the bound are dropped and counted",
		kept.size() == BridgeLogger.MAX_QUEUE and logger.dropped == 44,
		"kept %d dropped %d" % [kept.size(), logger.dropped]
	)
	_registered(ctx)


func _registered(ctx: TestContext) -> void:
	var logger: BridgeLogger = BridgeLogger.new()
	OS.add_logger(logger)
	print("bridge logger probe 7f3a")
	OS.remove_logger(logger)
	print("bridge logger probe after removal")
	var messages: Array[String] = []
	for event: Dictionary in logger.drain():
		messages.append(str(event["data"]["message"]))
	ctx.check(
		"logger: registered with OS.add_logger it sees print(), and nothing after removal",
		messages == ["bridge logger probe 7f3a"],
		"saw %s" % [messages]
	)
