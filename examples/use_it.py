"""README's "Use it": a WorldForge mock world with an object, planned inside one trace, recorded to Rerun.

    python examples/use_it.py        # needs worldforge-ai (Python >= 3.13) and worldforge-otel[rerun]
"""

from worldforge import Action, BBox, Position, SceneObject, WorldForge

import worldforge_otel

telemetry = worldforge_otel.configure(service_name="my-app")  # attaches to your OTel providers, or creates them
forge = WorldForge(event_handler=telemetry)  # the handle is the event handler
tracer = telemetry.tracer_provider.get_tracer("my-app")
with tracer.start_as_current_span("plan the lab"):  # one trace: a waterfall and a span tree in Rerun
    world = forge.create_world("lab", provider="mock")
    cube = SceneObject("cube", Position(0.1, 0.2, 0.05), BBox(Position(0.05, 0.15, 0.0), Position(0.15, 0.25, 0.1)))
    world.add_object(cube)
    world.predict(Action.move_to(0.3, 0.5, 0.0), steps=2)
    telemetry.artifacts.record_world(world)  # objects and boxes in 3D (and as span attributes)
    telemetry.artifacts.record_plan(world.plan(goal="move the cube to the left", provider="mock"))
telemetry.shutdown()  # flushes and closes the recording (bounded by a deadline)
print(f"recording: {telemetry.rerun_sink.save_path if telemetry.rerun_sink else None}")
