"""Home Assistant MQTT discovery: decoded devices and scanners appear in HA by themselves.

``entities`` maps metric names to HA entity descriptions, ``discovery`` builds the topics and
retained config payloads, ``tracker`` decides (pure, clock passed in) what to publish and when,
``bridge`` is the asyncio shell with its own MQTT client.
"""
