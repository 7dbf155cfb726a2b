extends RefCounted
## Builders of the protocol's documents: telemetry frames, the bridge identity
## and the discovery announcement. Pure (values in, Dictionary out), so tests
## print exactly what the bridge sends.

const PROTOCOL := "spacetime-bridge/1"
const BRIDGE_VERSION := "0.1.0"
const SERVICE := "spacetime-bridge"
const MAX_COORD := 1000000.0
const MAX_MS := 60000.0
const MAX_FPS := 10000.0


## One telemetry frame: {"event", "timestamp", "data"}.
static func frame(event: String, data: Dictionary, timestamp: float) -> Dictionary:
	return {"event": event, "timestamp": maxf(_finite(timestamp), 0.0), "data": data}


## The frame as the text sent on the WebSocket.
static func to_text(document: Dictionary) -> String:
	return JSON.stringify(document)


static func hello(
	godot_version: String, project: String, pid: int, rate_hz: float, timestamp: float
) -> Dictionary:
	var data: Dictionary = {
		"protocol": PROTOCOL,
		"godot_version": godot_version,
		"project": project,
		"pid": maxi(pid, 0),
		"rate_hz": rate_hz,
		"bridge_version": BRIDGE_VERSION,
	}
	return frame("hello", data, timestamp)


## Frame timing in milliseconds; `frame_time_ms` comes from the frame's delta.
static func fps(
	frames_per_second: float,
	frame_time_ms: float,
	process_time_ms: float,
	physics_time_ms: float,
	timestamp: float
) -> Dictionary:
	var data: Dictionary = {
		"fps": _bounded(frames_per_second, 0.0, MAX_FPS),
		"frame_time_ms": _bounded(frame_time_ms, 0.0, MAX_MS),
		"process_time_ms": _bounded(process_time_ms, 0.0, MAX_MS),
		"physics_time_ms": _bounded(physics_time_ms, 0.0, MAX_MS),
	}
	return frame("fps", data, timestamp)


## Each pose is pose() or null (no XR interface, or the device is not tracked).
static func vr_tracking(
	headset: Variant, left_controller: Variant, right_controller: Variant, timestamp: float
) -> Dictionary:
	var data: Dictionary = {
		"headset": headset,
		"left_controller": left_controller,
		"right_controller": right_controller,
	}
	return frame("vr_tracking", data, timestamp)


## {"position": [x, y, z], "rotation": [x, y, z, w]} of a transform (scale ignored).
static func pose(transform: Transform3D) -> Dictionary:
	var rotation: Quaternion = transform.basis.get_rotation_quaternion()
	if not rotation.is_finite():
		rotation = Quaternion.IDENTITY
	return {
		"position": vector3(transform.origin),
		"rotation": [rotation.x, rotation.y, rotation.z, rotation.w],
	}


## [x, y, z] with each coordinate finite and within the protocol's range.
static func vector3(value: Vector3) -> Array[float]:
	return [
		_bounded(value.x, -MAX_COORD, MAX_COORD),
		_bounded(value.y, -MAX_COORD, MAX_COORD),
		_bounded(value.z, -MAX_COORD, MAX_COORD),
	]


## `name` may be null (a scene without a file name).
static func scene_loaded(name: Variant, path: String, timestamp: float) -> Dictionary:
	return frame("scene_loaded", {"name": name, "path": path}, timestamp)


## `position` is vector3() or null.
static func player_spawned(position: Variant, timestamp: float) -> Dictionary:
	return frame("player_spawned", {"position": position}, timestamp)


static func error(message: String, source: String, timestamp: float) -> Dictionary:
	return frame("error", {"message": message, "source": source}, timestamp)


static func log_line(level: String, message: String, timestamp: float) -> Dictionary:
	return frame("log", {"level": level, "message": message}, timestamp)


## Who answers, as in GET /status's `bridge`; `telemetry_port` 0 means off (null).
static func identity(
	godot_version: String, pid: int, project: String, http_port: int, telemetry_port: int
) -> Dictionary:
	return {
		"protocol": PROTOCOL,
		"version": BRIDGE_VERSION,
		"godot_version": godot_version,
		"pid": maxi(pid, 0),
		"project": project,
		"http_port": http_port,
		"telemetry_port": telemetry_port if telemetry_port > 0 else null,
	}


## The UDP beacon and the port file: the identity plus "service" and "host".
static func announcement(
	godot_version: String,
	pid: int,
	project: String,
	host: String,
	http_port: int,
	telemetry_port: int
) -> Dictionary:
	var document: Dictionary = identity(godot_version, pid, project, http_port, telemetry_port)
	document["service"] = SERVICE
	document["host"] = host
	return document


## The engine's version as `godot --version` prints it, e.g.
## "4.5.1.stable.official.f62fdbde1" (patch left out when 0, as Godot does).
static func godot_version() -> String:
	var info: Dictionary = Engine.get_version_info()
	var parts: PackedStringArray = PackedStringArray(
		[str(info.get("major", 4)), str(info.get("minor", 0))]
	)
	if int(info.get("patch", 0)) != 0:
		parts.append(str(info.get("patch")))
	for key: String in ["status", "build"]:
		if not str(info.get(key, "")).is_empty():
			parts.append(str(info[key]))
	var commit: String = str(info.get("hash", ""))
	if not commit.is_empty():
		parts.append(commit.left(9))
	return ".".join(parts)


## The project folder as an OS path without a trailing slash ("res://" when
## the game runs from a pack with no folder of its own).
static func project_path() -> String:
	var path: String = ProjectSettings.globalize_path("res://")
	if path.is_empty() or path.begins_with("res://"):
		return "res://"
	if path.length() > 1 and path.ends_with("/") and not path.ends_with(":/"):
		path = path.substr(0, path.length() - 1)
	return path


static func _finite(value: float) -> float:
	return value if is_finite(value) else 0.0


## NaN becomes 0, infinities the nearest bound, then clamped into [low, high].
static func _bounded(value: float, low: float, high: float) -> float:
	return clampf(0.0 if is_nan(value) else value, low, high)
