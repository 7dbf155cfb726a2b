extends RefCounted
## GET /player and player_spawned: a node of the group entering the real tree,
## leaving it, and report_player_spawned() without a node.

const TestContext := preload("test_context.gd")
const Frames := preload("res://addons/spacetime_bridge/telemetry_frames.gd")
const PlayerTracker := preload("res://addons/spacetime_bridge/player_tracker.gd")

const NOW := 1767225602.0


func run(ctx: TestContext) -> void:
	var tracker: PlayerTracker = PlayerTracker.new()
	tracker.group = "player"
	tracker.attach(ctx.host.get_tree())
	var before: Dictionary = tracker.snapshot()
	var player: Node3D = Node3D.new()
	player.position = Vector3(1.5, 0.0, -2.0)
	player.add_to_group("player")
	ctx.host.add_child(player)
	var spawned: Dictionary = tracker.snapshot()
	ctx.document("player", before)
	ctx.document("player", spawned)
	var events: Array[Dictionary] = tracker.drain_events()
	for event: Dictionary in events:
		print(
			(
				"STB-JSON telemetry_frame %s"
				% Frames.to_text(Frames.frame(event["event"], event["data"], NOW))
			)
		)
	ctx.check(
		"player: a node of the group entering the tree is the spawned player, with its position",
		(
			before["spawned"] == false
			and spawned["spawned"] == true
			and TestContext.same(spawned["position"], [1.5, 0.0, -2.0])
			and events.size() == 1
		),
		"%s then %s, %d events" % [JSON.stringify(before), JSON.stringify(spawned), events.size()]
	)
	player.free()
	tracker.poll(1.0)
	ctx.check(
		"player: gone when its node leaves",
		tracker.snapshot()["spawned"] == false,
		JSON.stringify(tracker.snapshot())
	)
	var late: Node3D = Node3D.new()
	ctx.host.add_child(late)
	late.add_to_group("player")
	tracker.poll(2.0)
	ctx.check(
		"player: a node that joins the group after entering the tree is found by the look-up",
		tracker.snapshot()["spawned"] == true,
		JSON.stringify(tracker.snapshot())
	)
	late.free()
	tracker.detach()
	var reported: PlayerTracker = PlayerTracker.new()
	reported.report_spawned(null)
	var said: Dictionary = reported.snapshot()
	ctx.document("player", said)
	ctx.check(
		"player: report_player_spawned() without a node counts as spawned",
		said["spawned"] == true and reported.drain_events().size() == 1,
		JSON.stringify(said)
	)
