extends RefCounted
## Every telemetry frame kind, the beacon and the port file, as the addon builds
## them, printed for the Python side to validate against the schemas.

const TestContext := preload("test_context.gd")
const DiscoveryBeacon := preload("res://addons/spacetime_bridge/discovery_beacon.gd")
const Frames := preload("res://addons/spacetime_bridge/telemetry_frames.gd")

const NOW := 1767225600.25
const PID := 4242


func run(ctx: TestContext) -> void:
	var version: String = Frames.godot_version()
	var project: String = Frames.project_path()
	var hand: Transform3D = Transform3D(
		Basis(Vector3.UP, 0.5).scaled(Vector3(2, 2, 2)), Vector3(0.2, 1.1, -0.3)
	)
	var frames: Array[Dictionary] = [
		Frames.hello(version, project, PID, 90.0, NOW),
		Frames.fps(89.7, 11.2, 4.1, 1.2, NOW),
		Frames.fps(NAN, INF, -1.0, 1e9, NOW),
		Frames.vr_tracking(Frames.pose(XRServer.get_hmd_transform()), Frames.pose(hand), null, NOW),
		Frames.vr_tracking(null, null, null, NOW),
		Frames.scene_loaded("vr_main", "res://vr_main.tscn", NOW),
		Frames.scene_loaded(null, "res://vr_main.tscn", NOW),
		Frames.player_spawned(Frames.vector3(Vector3(0, 0, 2)), NOW),
		Frames.player_spawned(null, NOW),
		Frames.error("Invalid call", "res://player.gd:12 @ _ready()", NOW),
		Frames.log_line("info", "SpaceTime bridge: hello", NOW),
	]
	for document: Dictionary in frames:
		var text: String = Frames.to_text(document)
		var json: JSON = JSON.new()
		var ok: bool = json.parse(text) == OK and json.data is Dictionary
		ctx.check(
			"frame %s is one JSON object with event, timestamp, data" % document["event"],
			ok and TestContext.subset_mismatch({"event": document["event"]}, json.data) == "",
			text.left(200)
		)
		print("STB-JSON telemetry_frame %s" % text)
	var scaled: Dictionary = Frames.pose(hand)
	var rotation: Array = scaled["rotation"]
	var length: float = Vector4(rotation[0], rotation[1], rotation[2], rotation[3]).length()
	ctx.check(
		"pose: a scaled transform still gives a unit quaternion",
		is_equal_approx(length, 1.0),
		"length %f" % length
	)
	var odd: Dictionary = Frames.fps(NAN, INF, -1.0, 1e9, NOW)["data"]
	ctx.check(
		"fps: NaN, infinities and out-of-range values are clamped to the protocol's range",
		odd["fps"] == 0.0 and odd["frame_time_ms"] == 60000.0 and odd["process_time_ms"] == 0.0,
		JSON.stringify(odd)
	)
	_discovery(ctx, version, project)


func _discovery(ctx: TestContext, version: String, project: String) -> void:
	var announcement: Dictionary = Frames.announcement(
		version, PID, project, "127.0.0.1", 8080, 8081
	)
	ctx.document("beacon", announcement)
	var no_telemetry: Dictionary = Frames.announcement(version, PID, project, "127.0.0.1", 8083, 0)
	ctx.document("beacon", no_telemetry)
	ctx.check(
		"beacon: telemetry off is null",
		no_telemetry["telemetry_port"] == null and no_telemetry["service"] == "spacetime-bridge",
		JSON.stringify(no_telemetry)
	)
	var beacon: DiscoveryBeacon = DiscoveryBeacon.new()
	var path: String = OS.get_user_data_dir().path_join("spacetime_bridge_test.json")
	var written: bool = beacon.write_port_file(announcement, path)
	var back: Variant = TestContext.load_json(path)
	ctx.check(
		"port file: written atomically and read back equal",
		written and back is Dictionary and TestContext.same(announcement, back),
		"written=%s read %s" % [written, JSON.stringify(back)]
	)
	if back is Dictionary:
		# The file's own text on one line (a re-encoding would turn 4242 into 4242.0).
		print("STB-JSON port_file %s" % FileAccess.get_file_as_string(path).replace("\n", ""))
	beacon.remove_port_file()
	ctx.check("port file: removed on exit", not FileAccess.file_exists(path), path)
	var other: DiscoveryBeacon = DiscoveryBeacon.new()
	other.write_port_file(announcement, path)
	var newer: Dictionary = announcement.duplicate()
	newer["pid"] = PID + 1
	DiscoveryBeacon.new().write_port_file(newer, path)
	other.remove_port_file()
	ctx.check(
		"port file: another bridge's file is left in place",
		FileAccess.file_exists(path),
		"removed a file with another pid"
	)
	DirAccess.remove_absolute(path)
	var silent: DiscoveryBeacon = DiscoveryBeacon.new()
	silent.start(announcement, 0)
	silent.poll(10.0)
	ctx.check("beacon: port 0 sends nothing", silent.sent == 0, "sent %d" % silent.sent)
