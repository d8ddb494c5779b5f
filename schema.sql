-- press3way: the four feature tables of VICIdial 2.14's 3-way press-1 transfer.
-- InnoDB so that the winner election can use row locks (the code also works on MyISAM).
-- Re-runnable: running it on a database that already has the tables changes nothing.

CREATE TABLE IF NOT EXISTS vicidial_3way_press_live (
  call_date DATETIME(6),
  caller_code VARCHAR(30) NOT NULL,
  call_3way_id VARCHAR(30) NOT NULL,
  lead_id INT(9) UNSIGNED,
  phone_number VARCHAR(18),
  dialstring VARCHAR(28),
  outbound_cid VARCHAR(20),
  user VARCHAR(20),
  session_id VARCHAR(20),
  server_ip VARCHAR(15),
  session_id_3way VARCHAR(20) default '',
  status VARCHAR(40),
  call_channel VARCHAR(100) default '',
  agent_heartbeat DATETIME,
  index(call_date),
  index(caller_code),
  index(call_3way_id),
  index(lead_id)
) ENGINE=InnoDB;

CREATE TABLE IF NOT EXISTS vicidial_3way_press_log (
  call_date DATETIME(6),
  caller_code VARCHAR(30) NOT NULL,
  call_3way_id VARCHAR(30) NOT NULL,
  lead_id INT(9) UNSIGNED,
  phone_number VARCHAR(18),
  dialstring VARCHAR(28),
  outbound_cid VARCHAR(20),
  user VARCHAR(20),
  session_id VARCHAR(20),
  server_ip VARCHAR(15),
  session_id_3way VARCHAR(20) default '',
  result TEXT,
  call_channel VARCHAR(100) default '',
  call_transfer ENUM('Y','N') default 'N',
  index(call_date),
  index(caller_code),
  index(call_3way_id),
  index(lead_id),
  index(phone_number)
) ENGINE=InnoDB;

CREATE TABLE IF NOT EXISTS vicidial_3way_press_log_archive LIKE vicidial_3way_press_log;
-- The reference keyed the archive on (call_date, caller_code, user): one row per multi-call
-- batch survived. call_3way_id is unique per outside call, so every row is kept.
CREATE UNIQUE INDEX IF NOT EXISTS vdpla ON vicidial_3way_press_log_archive (call_date, caller_code, user, call_3way_id);

CREATE TABLE IF NOT EXISTS vicidial_3way_press_multi (
  user VARCHAR(20) PRIMARY KEY,
  call_date DATETIME,
  phone_numbers VARCHAR(255) default '',
  phone_numbers_ct TINYINT(3) default '0',
  status VARCHAR(40) default '',
  index(call_date)
) ENGINE=InnoDB;
