extends Node3D
## The "game" and "inert" runs' main scene: a game that idles for --seconds=N
## (user arguments after --; default 3) and quits 0, with the bridge autoload
## doing whatever it does beside it.

const DEFAULT_SECONDS := 3.0

var _left: float = DEFAULT_SECONDS


func _ready() -> void:
	_left = seconds_from(OS.get_cmdline_user_args())


func _process(delta: float) -> void:
	_left -= delta
	if _left <= 0.0:
		set_process(false)
		get_tree().quit(0)


## The N of "--seconds=N" among `args`, else DEFAULT_SECONDS.
static func seconds_from(args: PackedStringArray) -> float:
	for arg: String in args:
		if arg.begins_with("--seconds="):
			var value: String = arg.get_slice("=", 1)
			if value.is_valid_float() and value.to_float() >= 0.0:
				return value.to_float()
	return DEFAULT_SECONDS
