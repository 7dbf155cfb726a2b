extends Node
## SpaceTime bridge: the autoload "SpaceTimeBridge" that lets SpaceTime Panel see
## and steer the running game.
##
## Serves the HTTP API (GET /status, GET /scene, POST /scene/load, POST
## /scene/reload, GET /player), the telemetry WebSocket and the discovery
## beacon, all polled from _process: it never blocks a frame. Inert in a
## release export unless spacetime_bridge/release/enabled is on; where it
## cannot listen (ports busy, or the web platform) it says so once and the
## game goes on. Every line it prints starts with "SpaceTime bridge:".

enum Mode { OFF, INERT, NO_LISTEN, SERVING }

const BridgeSettings := preload("bridge_settings.gd")
const BridgeLogger := preload("bridge_logger.gd")
const DiscoveryBeacon := preload("discovery_beacon.gd")
const EditorServices := preload("editor_services.gd")
const Frames := preload("telemetry_frames.gd")
const HttpRouter := preload("http_router.gd")
const HttpServer := preload("http_server.gd")
const PlayerTracker := preload("player_tracker.gd")
const SceneLoader := preload("scene_loader.gd")
const TelemetryServer := preload("telemetry_server.gd")

const PREFIX := "SpaceTime bridge: "

var settings: BridgeSettings = BridgeSettings.new()
var mode: Mode = Mode.OFF

var _http: HttpServer = null
var _telemetry: TelemetryServer = null
var _beacon: DiscoveryBeacon = null
var _editor: EditorServices = null
var _scenes: SceneLoader = SceneLoader.new()
var _player: PlayerTracker = PlayerTracker.new()
var _logger: BridgeLogger = null
var _identity: Dictionary = {}
var _sample_due: float = 0.0
var _shut_down: bool = false


func _ready() -> void:
	process_mode = Node.PROCESS_MODE_ALWAYS
	settings.read_from_os()
	mode = decide_mode(OS.is_debug_build(), settings.release_enabled, OS.has_feature("web"))
	if mode == Mode.INERT:
		say(
			(
				"inert in a release build (set %s to serve); nothing opened"
				% BridgeSettings.SETTING_RELEASE_ENABLED
			)
		)
	elif mode == Mode.NO_LISTEN:
		say("cannot listen on the web platform (no TCP server there); the game goes on without it")
	else:
		_start()
	set_process(mode == Mode.SERVING)


## What the bridge does in a build: INERT in a release export unless enabled,
## NO_LISTEN on the web (no server sockets), else SERVING.
static func decide_mode(debug_build: bool, release_enabled: bool, web: bool) -> Mode:
	if not debug_build and not release_enabled:
		return Mode.INERT
	if web:
		return Mode.NO_LISTEN
	return Mode.SERVING


## One line on stdout, prefixed so that logs and tests can find it.
static func say(message: String) -> void:
	print(PREFIX + message)


## Tells the bridge (and the panel) that the player is in the game; `player`
## gives its position. Call it when the player is not a node of the
## spacetime_bridge/player/group group.
func report_player_spawned(player: Node = null) -> void:
	if mode == Mode.SERVING:
		_player.report_spawned(player)


func _start() -> void:
	_http = HttpServer.new()
	var http_port: int = _http.listen(settings.http_ports(), settings.bind_address)
	if http_port == 0:
		mode = Mode.NO_LISTEN
		say(
			(
				(
					"cannot listen on %s ports %s (busy?); set SPACETIME_HTTP_PORT to a free port."
					+ " The game goes on without the bridge"
				)
				% [settings.bind_address, _port_list(settings.http_ports())]
			)
		)
		_http = null
		return
	_telemetry = TelemetryServer.new()
	var telemetry_note: String = (
		"telemetry on ws://%s:%d" % [settings.bind_address, settings.telemetry_port]
	)
	if _telemetry.listen(settings.telemetry_port, settings.bind_address) != OK:
		telemetry_note = "telemetry port %d busy, telemetry off" % settings.telemetry_port
		_telemetry = null
	_wire(http_port)
	var problems: String = ""
	if not settings.problems.is_empty():
		problems = "; ignored " + ", ".join(settings.problems)
	say("HTTP on %s:%d, %s%s" % [settings.bind_address, http_port, telemetry_note, problems])


static func _port_list(ports: Array[int]) -> String:
	var texts: PackedStringArray = PackedStringArray()
	for port: int in ports:
		texts.append(str(port))
	return ", ".join(texts)


func _wire(http_port: int) -> void:
	var telemetry_port: int = _telemetry.port if _telemetry != null else 0
	var version: String = Frames.godot_version()
	var project: String = Frames.project_path()
	var pid: int = OS.get_process_id()
	_identity = Frames.identity(version, pid, project, http_port, telemetry_port)
	_editor = EditorServices.new(settings.lsp_port, settings.dap_port)
	_scenes.attach(get_tree())
	_player.group = settings.player_group
	_player.attach(get_tree())
	var router: HttpRouter = _http.router
	router.api_key = settings.api_key
	router.loopback_only = settings.binds_loopback()
	router.scene_loader = _scenes
	router.status_provider = _status
	router.player_provider = _player.snapshot
	if _telemetry != null:
		var hello: Dictionary = Frames.hello(
			version, project, pid, settings.rate_hz, Time.get_unix_time_from_system()
		)
		_telemetry.hello_text = Frames.to_text(hello)
		_logger = BridgeLogger.new()
		OS.add_logger(_logger)
	# A wildcard bind announces 0.0.0.0, which listeners replace by the sender's address.
	var host: String = "0.0.0.0" if settings.bind_address == "*" else settings.bind_address
	var announcement: Dictionary = Frames.announcement(
		version, pid, project, host, http_port, telemetry_port
	)
	_beacon = DiscoveryBeacon.new()
	_beacon.start(announcement, settings.discovery_port)
	_beacon.write_port_file(announcement, DiscoveryBeacon.port_file_path())


func _status() -> Dictionary:
	var body: Dictionary = _editor.status_fields()
	body["bridge"] = _identity
	return body


func _process(delta: float) -> void:
	var now: float = Time.get_ticks_usec() / 1000000.0
	var wall: float = Time.get_unix_time_from_system()
	_scenes.poll()
	if _scenes.is_loading():
		# The old scene's player is still in the tree until the change: not the player.
		_player.forget()
	else:
		_player.poll(now)
	_http.poll(now)
	_editor.poll(now, wall)
	_beacon.poll(now)
	if _telemetry != null:
		_telemetry.poll(now)
	# Drained every frame, sent only when someone listens: no queue grows.
	_forward_events(wall)
	if _telemetry != null and _telemetry.client_count() > 0 and now >= _sample_due:
		_sample_due = maxf(_sample_due + 1.0 / settings.rate_hz, now)
		_send_samples(delta, wall)


func _forward_events(wall: float) -> void:
	var events: Array[Dictionary] = _scenes.drain_events()
	events.append_array(_player.drain_events())
	if _logger != null:
		events.append_array(_logger.drain())
	if _telemetry == null or _telemetry.client_count() == 0:
		return
	for event: Dictionary in events:
		var document: Dictionary = Frames.frame(str(event["event"]), event["data"], wall)
		_telemetry.broadcast(Frames.to_text(document))


func _send_samples(delta: float, wall: float) -> void:
	var fps: Dictionary = Frames.fps(
		Performance.get_monitor(Performance.TIME_FPS),
		delta * 1000.0,
		Performance.get_monitor(Performance.TIME_PROCESS) * 1000.0,
		Performance.get_monitor(Performance.TIME_PHYSICS_PROCESS) * 1000.0,
		wall
	)
	_telemetry.broadcast(Frames.to_text(fps))
	var tracking: Dictionary = Frames.vr_tracking(
		_headset_pose(), _hand_pose("left_hand"), _hand_pose("right_hand"), wall
	)
	_telemetry.broadcast(Frames.to_text(tracking))


static func _headset_pose() -> Variant:
	if XRServer.primary_interface == null:
		return null
	return Frames.pose(XRServer.get_hmd_transform())


static func _hand_pose(tracker_name: String) -> Variant:
	if XRServer.primary_interface == null:
		return null
	var tracker: XRPositionalTracker = XRServer.get_tracker(tracker_name) as XRPositionalTracker
	if tracker == null:
		return null
	var pose: XRPose = tracker.get_pose("default")
	if pose == null or not pose.has_tracking_data:
		return null
	return Frames.pose(pose.transform)


func _notification(what: int) -> void:
	if what == NOTIFICATION_WM_CLOSE_REQUEST or what == NOTIFICATION_PREDELETE:
		_shutdown()


func _exit_tree() -> void:
	_shutdown()


func _shutdown() -> void:
	if _shut_down or mode != Mode.SERVING:
		return
	_shut_down = true
	if _beacon != null:
		_beacon.remove_port_file()
		_beacon.stop()
	if _http != null:
		_http.stop()
	if _telemetry != null:
		_telemetry.stop()
	if _editor != null:
		_editor.close()
	if _logger != null:
		OS.remove_logger(_logger)
	_scenes.detach()
	_player.detach()
