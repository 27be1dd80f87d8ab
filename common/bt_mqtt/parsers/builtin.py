"""The built-in parsers, in registration order.  Append new parser classes to ``BUILTIN``."""

from __future__ import annotations

from typing import Any

from bt_mqtt.parsers.altbeacon import AltBeaconParser
from bt_mqtt.parsers.atc import ATCParser
from bt_mqtt.parsers.bluemaestro import BlueMaestroParser
from bt_mqtt.parsers.bthome import BTHomeParser
from bt_mqtt.parsers.eddystone import EddystoneParser
from bt_mqtt.parsers.govee import GoveeParser
from bt_mqtt.parsers.ibeacon import IBeaconParser
from bt_mqtt.parsers.inkbird import InkbirdParser
from bt_mqtt.parsers.mopeka import MopekaParser
from bt_mqtt.parsers.qingping import QingpingParser
from bt_mqtt.parsers.ruuvi import RuuviParser
from bt_mqtt.parsers.sensorpush import SensorPushParser
from bt_mqtt.parsers.switchbot import SwitchBotParser
from bt_mqtt.parsers.thermobeacon import ThermoBeaconParser
from bt_mqtt.parsers.xiaomi import XiaomiParser

BUILTIN: list[Any] = [BTHomeParser, ATCParser, XiaomiParser]
BUILTIN += [RuuviParser, IBeaconParser, AltBeaconParser, EddystoneParser, GoveeParser]
BUILTIN += [InkbirdParser, QingpingParser, ThermoBeaconParser, BlueMaestroParser]
BUILTIN += [SwitchBotParser, MopekaParser, SensorPushParser]
