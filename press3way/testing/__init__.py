"""Stand-ins for Asterisk at the protocol level (fake AGI, fake AMI, a whole-call simulator)
and a throwaway MariaDB: for tests, demos, and for admins trying a change before it goes live."""
