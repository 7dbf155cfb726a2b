extends RefCounted
## What the test scripts report through: the STB-* lines of README.md.
##
## The release template strips assert() and goes on after runtime errors, so
## every check is an explicit call here.

var passed: int = 0
var failed: int = 0
## A node in the running tree (the runner), for tests that need the SceneTree.
var host: Node = null


## One test: PASS when `ok`, else FAIL with `why`.
func check(name: String, ok: bool, why: String = "") -> void:
	var line_name: String = name.replace("\n", " ")
	if ok:
		passed += 1
		print("STB-TEST PASS %s" % line_name)
	else:
		failed += 1
		print("STB-TEST FAIL %s: %s" % [line_name, why.replace("\n", " ")])


## A document the addon built, for the Python side to validate against a schema.
func document(schema: String, value: Variant) -> void:
	print("STB-JSON %s %s" % [schema, JSON.stringify(value)])


## Why `actual` does not hold every field of `expected` with an equal value ("" if it does).
static func subset_mismatch(expected: Dictionary, actual: Dictionary) -> String:
	for key: Variant in expected:
		if not actual.has(key):
			return "no field %s" % key
		if not same(expected[key], actual[key]):
			return (
				"%s is %s, expected %s"
				% [key, JSON.stringify(actual[key]), JSON.stringify(expected[key])]
			)
	return ""


## JSON-level equality (1 == 1.0, arrays and objects compared deeply).
static func same(a: Variant, b: Variant) -> bool:
	if (a is int or a is float) and (b is int or b is float):
		return is_equal_approx(float(a), float(b))
	if typeof(a) != typeof(b):
		return false
	if a is Array:
		var left: Array = a
		var right: Array = b
		if left.size() != right.size():
			return false
		for index: int in left.size():
			if not same(left[index], right[index]):
				return false
		return true
	if a is Dictionary:
		return subset_mismatch(a, b) == "" and (a as Dictionary).size() == (b as Dictionary).size()
	return a == b


## A JSON file of the pack, parsed (null when missing or not JSON).
static func load_json(path: String) -> Variant:
	if not FileAccess.file_exists(path):
		return null
	var json: JSON = JSON.new()
	if json.parse(FileAccess.get_file_as_string(path)) != OK:
		return null
	return json.data
