"""Asterisk stand-ins (`standins/`: channel, fake AGI, fake AMI, dialplan, sounds), a whole-call
simulator on one server or a cluster of them, and a throwaway MariaDB: for tests, demos, and
for admins trying a change before it goes live."""

__version__ = "0.1.0"
