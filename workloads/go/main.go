// Command workload is madvise-lab's real Go workload: the Python workload's patterns and commands,
// run by the real Go runtime so its own gctrace/scavtrace lines (stderr) and madvise calls are shown.
//
// Protocol: JSON lines on stdout (hello, stats, event, trace, error), commands as JSON lines on stdin.
// The madvise mode comes from GODEBUG=madvdontneed=0|1, which the runtime reads only at start.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"time"
)

var start = time.Now()

func since() float64 { return time.Since(start).Seconds() }

// ---- output: one JSON object per line, never interleaved ----

var outMu sync.Mutex
var out = bufio.NewWriter(os.Stdout)

func emit(msg map[string]any) {
	msg["t"] = since()
	line, err := json.Marshal(msg)
	if err != nil {
		line = []byte(fmt.Sprintf(`{"type":"error","t":%f,"message":%q}`, since(), err.Error()))
	}
	outMu.Lock()
	defer outMu.Unlock()
	out.Write(line)
	out.WriteByte('\n')
	out.Flush()
}

func emitEvent(name string, fields map[string]any) {
	msg := map[string]any{"type": "event", "event": name}
	for k, v := range fields {
		msg[k] = v
	}
	emit(msg)
}

func emitError(message string) { emit(map[string]any{"type": "error", "message": message}) }

func emitLab(line string) {
	emit(map[string]any{"type": "trace", "kind": "lab", "line": "lab: " + line})
}

// ---- sizes and durations, as workloads/units.py parses them ----

var sizeUnits = map[string]float64{
	"": 1, "b": 1,
	"k": 1 << 10, "kib": 1 << 10, "kb": 1e3,
	"m": 1 << 20, "mib": 1 << 20, "mb": 1e6,
	"g": 1 << 30, "gib": 1 << 30, "gb": 1e9,
	"t": 1 << 40, "tib": 1 << 40, "tb": 1e12,
}
var durationUnits = map[string]float64{"": 1, "ms": 1e-3, "s": 1, "m": 60, "min": 60, "h": 3600}

func splitNumberUnit(text string) (float64, string, bool) {
	text = strings.TrimSpace(text)
	i := 0
	for i < len(text) && (text[i] == '.' || (text[i] >= '0' && text[i] <= '9')) {
		i++
	}
	number, err := strconv.ParseFloat(text[:i], 64)
	if err != nil || number < 0 {
		return 0, "", false
	}
	return number, strings.ToLower(strings.TrimSpace(text[i:])), true
}

type sizeFlag struct{ bytes int64 }

func (s *sizeFlag) String() string { return strconv.FormatInt(s.bytes, 10) }
func (s *sizeFlag) Set(text string) error {
	number, unit, ok := splitNumberUnit(text)
	factor, known := sizeUnits[unit]
	if !ok || !known {
		return fmt.Errorf("expected a size such as 512MiB, 64KiB, 1GiB or a byte count, got %q", text)
	}
	s.bytes = int64(number * factor)
	return nil
}

type durationFlag struct{ seconds float64 }

func (d *durationFlag) String() string { return strconv.FormatFloat(d.seconds, 'g', -1, 64) }
func (d *durationFlag) Set(text string) error {
	number, unit, ok := splitNumberUnit(text)
	factor, known := durationUnits[unit]
	if !ok || !known {
		return fmt.Errorf("expected a duration such as 500ms, 10s, 2.5m, 1h or a number of seconds, got %q", text)
	}
	d.seconds = number * factor
	return nil
}
func (d *durationFlag) dur() time.Duration { return time.Duration(d.seconds * float64(time.Second)) }

// ---- options ----

type options struct {
	pattern                         string
	size, peak, base, live, objSize sizeFlag
	rate                            sizeFlag
	count                           int
	interval, hold, statsInterval   durationFlag
	gogc                            int
	madvise                         string
}

var patterns = []string{"seed", "sawtooth", "churn", "burst", "steady"}

func parseOptions(args []string) (*options, error) {
	o := &options{
		size: sizeFlag{512 << 20}, peak: sizeFlag{256 << 20}, base: sizeFlag{64 << 20},
		live: sizeFlag{64 << 20}, objSize: sizeFlag{64 << 10}, rate: sizeFlag{16 << 20},
		interval: durationFlag{10}, hold: durationFlag{0}, statsInterval: durationFlag{0.1},
	}
	fs := flag.NewFlagSet("workload", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are printed by main as one line; -h prints the defaults
	fs.StringVar(&o.pattern, "pattern", "seed", "seed, sawtooth, churn, burst or steady")
	fs.Var(&o.size, "size", "bytes per allocation (seed, sawtooth, burst) or the live heap (steady)")
	fs.IntVar(&o.count, "count", 2, "seed: how many allocations of SIZE")
	fs.Var(&o.interval, "interval", "time between allocations or bursts")
	fs.Var(&o.hold, "hold", "how long allocations are held before they are dropped (seed, burst)")
	fs.Var(&o.peak, "peak", "sawtooth: the heap size at which everything is dropped")
	fs.Var(&o.base, "base", "burst: the live heap held all the time")
	fs.Var(&o.live, "live", "churn: the live heap kept while objects are replaced")
	fs.Var(&o.objSize, "object-size", "churn: bytes per object")
	fs.Var(&o.rate, "rate", "churn: bytes replaced per second")
	fs.IntVar(&o.gogc, "gogc", 100, "GOGC; -1 turns the pacer off")
	fs.Var(&o.statsInterval, "stats-interval", "how often stats are sent")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			fs.SetOutput(os.Stdout)
			fs.PrintDefaults()
		}
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	known := false
	for _, p := range patterns {
		known = known || p == o.pattern
	}
	if !known {
		return nil, fmt.Errorf("-pattern: expected one of %s, got %q", strings.Join(patterns, ", "), o.pattern)
	}
	if o.count < 0 {
		return nil, fmt.Errorf("-count: expected a whole number >= 0, got %d", o.count)
	}
	if o.objSize.bytes <= 0 {
		return nil, fmt.Errorf("-object-size: expected a size > 0")
	}
	if o.statsInterval.seconds <= 0 {
		o.statsInterval.seconds = 0.1
	}
	o.madvise = madviseFromGODEBUG(os.Getenv("GODEBUG"))
	return o, nil
}

// madviseFromGODEBUG is the mode the runtime uses: the last madvdontneed= setting wins;
// without one, Go >= 1.16 uses MADV_DONTNEED.
func madviseFromGODEBUG(godebug string) string {
	mode := "MADV_DONTNEED"
	for _, kv := range strings.Split(godebug, ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(kv), "madvdontneed="); ok {
			if v == "0" {
				mode = "MADV_FREE"
			} else {
				mode = "MADV_DONTNEED"
			}
		}
	}
	return mode
}

func (o *options) asMap() map[string]any {
	return map[string]any{
		"pattern": o.pattern, "size": o.size.bytes, "count": o.count, "interval": o.interval.seconds,
		"hold": o.hold.seconds, "peak": o.peak.bytes, "base": o.base.bytes, "live": o.live.bytes,
		"object_size": o.objSize.bytes, "rate": o.rate.bytes, "gogc": o.gogc, "madvise": o.madvise,
		"stats_interval": o.statsInterval.seconds,
	}
}

// ---- the heap we hold: named groups of byte slices, every page written so it is resident ----

var pageSize = os.Getpagesize()

type heap struct {
	mu     sync.Mutex
	groups map[string][][]byte
}

var held = &heap{groups: map[string][][]byte{}}

func touched(n int64) []byte {
	b := make([]byte, n)
	// Write one byte per page: fresh spans come zeroed from the kernel and are not resident until written.
	for i := 0; i < len(b); i += pageSize {
		b[i] = 1
	}
	return b
}

func (h *heap) add(group string, n int64) {
	if n <= 0 {
		return
	}
	b := touched(n)
	h.mu.Lock()
	h.groups[group] = append(h.groups[group], b)
	h.mu.Unlock()
	emitEvent("alloc", map[string]any{"bytes": n, "source": group})
	poke()
}

func (h *heap) bytes(group string) int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	var total int64
	for _, b := range h.groups[group] {
		total += int64(len(b))
	}
	return total
}

// drop forgets groups ("" = all); the memory goes back to the heap at the next GC.
func (h *heap) drop(group string) int64 {
	h.mu.Lock()
	var total int64
	for name, bs := range h.groups {
		if group != "" && name != group {
			continue
		}
		for _, b := range bs {
			total += int64(len(b))
		}
		delete(h.groups, name)
	}
	h.mu.Unlock()
	if total > 0 {
		emitEvent("free", map[string]any{"bytes": total})
		poke()
	}
	return total
}

// ---- pause-aware clock for the patterns ----

var pauseMu sync.Mutex
var paused bool

func isPaused() bool {
	pauseMu.Lock()
	defer pauseMu.Unlock()
	return paused
}

// sleep waits d of un-paused time.
func sleep(d time.Duration) {
	const step = 10 * time.Millisecond
	for d > 0 {
		s := step
		if d < s {
			s = d
		}
		time.Sleep(s)
		if !isPaused() {
			d -= s
		}
	}
}

func waitRunning() {
	for isPaused() {
		time.Sleep(10 * time.Millisecond)
	}
}

// ---- patterns (the same schedule as workloads/patterns.py) ----

func runPattern(o *options) {
	switch o.pattern {
	case "seed":
		// COUNT allocations at 0, INTERVAL, ...; all dropped HOLD after the last.
		for i := 0; i < o.count; i++ {
			if i > 0 {
				sleep(o.interval.dur())
			}
			waitRunning()
			held.add("pattern", o.size.bytes)
		}
		sleep(o.hold.dur())
		held.drop("pattern")
	case "steady":
		held.add("pattern", o.size.bytes)
	case "sawtooth":
		// Every INTERVAL: grow by SIZE, or drop everything once PEAK is reached.
		for {
			waitRunning()
			if n := held.bytes("pattern"); n > 0 && n >= o.peak.bytes {
				held.drop("pattern")
			} else {
				held.add("pattern", o.size.bytes)
			}
			sleep(maxDuration(o.interval.dur(), time.Millisecond))
		}
	case "burst":
		// Hold BASE; every INTERVAL add SIZE and drop it after HOLD (half an interval when HOLD is 0).
		held.add("pattern", o.base.bytes)
		interval := maxDuration(o.interval.dur(), time.Millisecond)
		hold := o.hold.dur()
		if hold == 0 {
			hold = interval / 2
		}
		for i := 0; ; i++ {
			waitRunning()
			group := fmt.Sprintf("burst-%d", i)
			held.add(group, o.size.bytes)
			go func() { sleep(hold); held.drop(group) }() // bursts may overlap when HOLD > INTERVAL
			sleep(interval)
		}
	case "churn":
		runChurn(o)
	}
}

func maxDuration(a, b time.Duration) time.Duration {
	if a > b {
		return a
	}
	return b
}

// runChurn keeps LIVE bytes of OBJECT_SIZE objects, replacing RATE bytes per second, oldest first;
// after a `free` it refills.
func runChurn(o *options) {
	target := int(o.live.bytes / o.objSize.bytes)
	const tick = 100 * time.Millisecond
	perTick := float64(o.rate.bytes) * tick.Seconds() / float64(o.objSize.bytes)
	held.churn(0, target, o.objSize.bytes)
	owed := 0.0
	for {
		sleep(tick)
		owed += perTick
		n := int(owed)
		owed -= float64(n)
		held.churn(n, target, o.objSize.bytes)
	}
}

// churn drops the n oldest churn objects, then allocates until `target` are held.
func (h *heap) churn(n, target int, size int64) {
	h.mu.Lock()
	objects := h.groups["churn"]
	if n > len(objects) {
		n = len(objects)
	}
	objects = append([][]byte(nil), objects[n:]...) // a fresh slice: the dropped ones become garbage
	added := 0
	for len(objects) < target {
		objects = append(objects, touched(size))
		added++
	}
	h.groups["churn"] = objects
	h.mu.Unlock()
	if added > n { // a fill (start, or after `free`) is an allocation worth reporting; steady churn is not
		emitEvent("alloc", map[string]any{"bytes": int64(added-n) * size, "source": "churn"})
		poke()
	}
}

// ---- runtime/metrics ----

var metricNames = []string{
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/unused:bytes",
	"/memory/classes/heap/free:bytes",
	"/memory/classes/heap/released:bytes",
	"/gc/heap/goal:bytes",
	"/gc/cycles/total:gc-cycles",
	"/gc/cycles/forced:gc-cycles",
}

type heapFigures struct {
	objects, inuse, idle, released, sys, goal int64
	gcs, forced                               uint64
}

var samples = func() []metrics.Sample {
	s := make([]metrics.Sample, len(metricNames))
	for i, name := range metricNames {
		s[i].Name = name
	}
	return s
}()
var samplesMu sync.Mutex

func readHeap() heapFigures {
	samplesMu.Lock()
	defer samplesMu.Unlock()
	metrics.Read(samples)
	u := func(i int) uint64 {
		if samples[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return samples[i].Value.Uint64()
	}
	objects, unused, free, released := int64(u(0)), int64(u(1)), int64(u(2)), int64(u(3))
	return heapFigures{
		objects: objects, inuse: objects + unused, idle: free, released: released,
		sys: objects + unused + free + released, goal: int64(u(4)), gcs: u(5), forced: u(6),
	}
}

// ---- stats loop ----

var pokeCh = make(chan struct{}, 1)

// poke asks the stats loop to send stats now (after alloc/free/GC/scavenge).
func poke() {
	select {
	case pokeCh <- struct{}{}:
	default:
	}
}

func statsLoop(o *options) {
	ticker := time.NewTicker(o.statsInterval.dur())
	defer ticker.Stop()
	last := readHeap()
	for {
		select {
		case <-ticker.C:
		case <-pokeCh:
		}
		now := readHeap()
		if now.gcs != last.gcs {
			// A GC the runtime ran by itself (pacer or the 2-minute forced GC); command GCs are reported by gc().
			reportGC(last, now, now.forced != last.forced)
		}
		emit(map[string]any{
			// the fields of workloads/protocol.py STATS_FIELDS (tests/go/test_go_protocol.py holds them equal)
			"type": "stats", "heap_inuse_bytes": now.inuse, "heap_idle_bytes": now.idle,
			"heap_released_bytes": now.released, "heap_sys_bytes": now.sys, "heap_goal_bytes": now.goal,
			"gc_count": now.gcs, "madvise": o.madvise,
		})
		last = now
	}
}

var gcMu sync.Mutex
var reportedGCs uint64

func reportGC(before, after heapFigures, forced bool) {
	gcMu.Lock()
	defer gcMu.Unlock()
	if after.gcs <= reportedGCs {
		return
	}
	reportedGCs = after.gcs
	emitEvent("gc", map[string]any{
		"n": after.gcs, "forced": forced, "heap_before": before.objects, "heap_after": after.objects,
		"goal": after.goal,
	})
}

// ---- commands ----

type command struct {
	Cmd   string          `json:"cmd"`
	Bytes json.RawMessage `json:"bytes"`
	Value any             `json:"value"`
}

func handle(line string, o *options) (exit bool) {
	line = strings.TrimSpace(line)
	if line == "" {
		return false
	}
	var c command
	if err := json.Unmarshal([]byte(line), &c); err != nil {
		emitError(fmt.Sprintf("stdin: expected a JSON object with \"cmd\", got %.80q", line))
		return false
	}
	switch c.Cmd {
	case "gc":
		before := readHeap()
		runtime.GC()
		after := readHeap()
		reportGC(before, after, true)
		poke()
	case "scavenge":
		scavenge(o)
	case "alloc":
		n, err := parseBytes(c.Bytes)
		if err != nil {
			emitError("alloc: " + err.Error())
			return false
		}
		held.add("command", n) // in line: a `free` right after must see this allocation
	case "free":
		held.drop("")
	case "pause":
		pauseMu.Lock()
		paused = true
		pauseMu.Unlock()
		emitEvent("pause", nil)
	case "resume":
		pauseMu.Lock()
		paused = false
		pauseMu.Unlock()
		emitEvent("resume", nil)
	case "set_madvise":
		emitError(fmt.Sprintf("set_madvise %v: the Go runtime reads GODEBUG=madvdontneed only at start; "+
			"restart the workload to change the mode (it runs with %s)", c.Value, o.madvise))
	case "exit":
		emitEvent("exit", map[string]any{"reason": "command"})
		return true
	default:
		emitError(fmt.Sprintf("stdin: unknown cmd %q; expected set_madvise, gc, scavenge, alloc, free, pause, resume or exit", c.Cmd))
	}
	return false
}

func parseBytes(raw json.RawMessage) (int64, error) {
	if len(raw) == 0 {
		return 0, fmt.Errorf("expected \"bytes\": a size such as 64MiB or a byte count")
	}
	var n int64
	if err := json.Unmarshal(raw, &n); err == nil && n >= 0 {
		return n, nil
	}
	var text string
	if err := json.Unmarshal(raw, &text); err == nil {
		var s sizeFlag
		if err := s.Set(text); err == nil {
			return s.bytes, nil
		}
	}
	return 0, fmt.Errorf("expected \"bytes\": a size such as 64MiB or a byte count, got %s", string(raw))
}

func scavenge(o *options) {
	before := readHeap()
	t0 := time.Now()
	debug.FreeOSMemory() // a forced GC, then every free page goes back with the runtime's madvise
	elapsed := time.Since(t0).Seconds()
	after := readHeap()
	reportGC(before, after, true)
	emitEvent("scavenge", map[string]any{
		"released_bytes": after.released - before.released, "madvise": o.madvise, "madvise_s": elapsed,
	})
	poke()
}

func main() {
	o, err := parseOptions(os.Args[1:])
	if err != nil {
		if err == flag.ErrHelp {
			os.Exit(0)
		}
		fmt.Fprintf(os.Stderr, "workload: %v\n", err)
		os.Exit(2)
	}
	debug.SetGCPercent(o.gogc)
	emit(map[string]any{
		"type": "hello", "pid": os.Getpid(), "kind": "go", "madvise": o.madvise, "options": o.asMap(),
		"go_version": runtime.Version(), "godebug": os.Getenv("GODEBUG"),
	})
	first := readHeap()
	reportedGCs = first.gcs
	go statsLoop(o)
	go runPattern(o)
	emitLab(fmt.Sprintf("%s, GODEBUG=%s: the runtime releases memory with %s", runtime.Version(),
		os.Getenv("GODEBUG"), o.madvise))

	reader := bufio.NewReaderSize(os.Stdin, 1<<16)
	for {
		line, err := reader.ReadString('\n')
		if handle(line, o) {
			os.Exit(0)
		}
		if err != nil {
			emitEvent("exit", map[string]any{"reason": "stdin closed"})
			os.Exit(0)
		}
	}
}
