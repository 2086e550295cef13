# Runs inside the lane's VM as root (tests/vm/test_v2_lane.py boots it): the guest pytest module as root in a
# login-like cgroup, then as an unprivileged user in a delegated subtree. Results go to OUT (shared with the host).
OUT=${1:?results dir}
C=/sys/fs/cgroup
export PYTHONPATH="$PWD:$PWD/tests" PYTEST_DISABLE_PLUGIN_AUTOLOAD=1
PYTEST="python3 -m pytest -q -p pytest_timeout -p no:cacheprovider -rfEs --timeout=150"
GUEST=tests/vm/guest
cut -d' ' -f1 /proc/uptime > "$OUT/boot.seconds"
now() { cut -d' ' -f1 /proc/uptime; }

# root: in a cgroup of its own shared with this shell, as a login session scope is.
t=$(now)
mkdir $C/session.scope && echo $$ > $C/session.scope/cgroup.procs
MADVISE_LAB_LANE_MODE=root $PYTEST $GUEST/pressure_v2.py $GUEST/undelegated_v2.py > "$OUT/root.log" 2>&1
echo $? > "$OUT/root.rc"
echo $$ > $C/cgroup.procs
echo "$t $(now)" > "$OUT/root.seconds"

# delegated: root hands a cgroup to uid 65534 (as systemd's Delegate=yes does); pytest runs alone in it.
t=$(now)
D=$C/user.slice/deleg.scope
mkdir -p $D && echo +memory > $C/user.slice/cgroup.subtree_control && chown 65534:65534 $D $D/cgroup.procs $D/cgroup.threads $D/cgroup.subtree_control
sh -c "echo \$\$ > $D/cgroup.procs && exec setpriv --reuid=65534 --regid=65534 --clear-groups \
    env HOME=/tmp MADVISE_LAB_LANE_MODE=delegated $PYTEST $GUEST/pressure_v2.py" > "$OUT/delegated.log" 2>&1
echo $? > "$OUT/delegated.rc"
echo "$t $(now)" > "$OUT/delegated.seconds"
