# Imports the files a person put in bt-mqtt/ on the FAT boot partition, then deletes them there
# (they hold secrets).  Runs at every boot before the network, sshd and the agent.
# Arguments: BOOT_DIR STATE_DIR ADMIN_USER AGENT_GROUP.  Needs the agent on PATH (validation).
set -euo pipefail
boot_dir=$1 state_dir=$2 admin=$3 agent_group=$4

install -d -m 0755 "$state_dir" "$state_dir/ssh"
imported=0

take() { # take NAME MODE GROUP: copy NAME from the boot partition, then remove it there
  local name=$1 mode=$2 group=$3 src="$boot_dir/$1"
  [ -f "$src" ] || return 0
  # FAT files from Windows may carry CR line endings; wpa_supplicant and sshd reject those.
  tr -d '\r' <"$src" >"$state_dir/.$name.new"
  chown "root:$group" "$state_dir/.$name.new"
  chmod "$mode" "$state_dir/.$name.new"
  mv "$state_dir/.$name.new" "$state_dir/$name"
  rm -f "$src"
  imported=$((imported + 1))
  echo "imported $name"
}

take wpa_supplicant.conf 0600 root
take mqtt-password 0640 "$agent_group"
if [ -f "$boot_dir/agent.yaml" ]; then
  take agent.yaml 0640 "$agent_group"
  if ! bt-mqtt-agent --config "$state_dir/agent.yaml" --check-config; then
    echo "agent.yaml has errors (above); the agent will not start until it is fixed" >&2
  fi
fi
if [ -f "$boot_dir/authorized_keys" ]; then
  take authorized_keys 0644 root
  mv "$state_dir/authorized_keys" "$state_dir/ssh/$admin"
fi

sync
echo "boot partition import done: $imported file(s)"
