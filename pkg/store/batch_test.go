package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// recordingExec stands in for the database: it records each batch as the
// names of its rounds, marks them done, and can hold a batch until told.
type recordingExec struct {
	mu      sync.Mutex
	batches [][]string
	hold    chan struct{} // if set, each batch waits for a receive
	names   map[*combinedCall]string
}

func (e *recordingExec) exec(calls []*combinedCall) {
	if e.hold != nil {
		<-e.hold
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var b []string
	for _, c := range calls {
		b = append(b, e.names[c])
		c.done = true
	}
	e.batches = append(e.batches, b)
}

func (e *recordingExec) recorded() [][]string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.batches)
}

// release lets the held statement i run, failing (rather than hanging)
// when no statement is waiting to: the rounds went in fewer statements
// than the test expects.
func release(t *testing.T, e *recordingExec, i int) {
	t.Helper()
	select {
	case e.hold <- struct{}{}:
	case <-time.After(5 * time.Second):
		t.Fatalf("statement %d never came; batches so far %v", i+1, e.recorded())
	}
}

func queued(b *batcher) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue)
}

// waitQueued waits until n rounds are in line.
func waitQueued(t *testing.T, b *batcher, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); queued(b) != n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d rounds in line, want %d", queued(b), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// Rounds that wait share the next statement with the waiting rounds of
// their shape, oldest first, up to the batch size; a round of another
// shape keeps its place for the slot after.
func TestBatcherSharesStatementsByShape(t *testing.T) {
	shapeA, shapeB := &combinedSQL{q: "A"}, &combinedSQL{q: "B"}
	e := &recordingExec{hold: make(chan struct{}), names: map[*combinedCall]string{}}
	var (
		waitMu sync.Mutex
		waits  []time.Duration
	)
	b := newBatcher(1, 4, e.exec, func(d time.Duration) {
		waitMu.Lock()
		waits = append(waits, d)
		waitMu.Unlock()
	})
	var wg sync.WaitGroup
	calls := map[string]*combinedCall{}
	start := func(name string, cs *combinedSQL) {
		c := &combinedCall{cs: cs, args: []any{name}} // each asks for its own rows
		e.mu.Lock()
		e.names[c] = name
		e.mu.Unlock()
		calls[name] = c
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := b.run(context.Background(), c); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}()
	}
	start("a0", shapeA) // finds the slot free: runs alone, held
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		b.mu.Lock()
		busy := b.busy
		b.mu.Unlock()
		if busy == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first round did not take the slot")
		}
	}
	order := []struct {
		name string
		cs   *combinedSQL
	}{{"a1", shapeA}, {"b1", shapeB}, {"a2", shapeA}, {"a3", shapeA}, {"b2", shapeB}, {"a4", shapeA}, {"a5", shapeA}}
	for i, r := range order {
		start(r.name, r.cs)
		waitQueued(t, b, i+1) // one at a time, so the line is in this order
	}
	for i := range 4 { // a0, then three more statements
		release(t, e, i)
	}
	wg.Wait()
	got := fmt.Sprint(e.recorded())
	// a1..a5 are five rounds of shape A: the batch takes four (the
	// batch size), b1 and b2 go next together, then a5.
	if want := "[[a0] [a1 a2 a3 a4] [b1 b2] [a5]]"; got != want {
		t.Fatalf("batches %s, want %s", got, want)
	}
	for name, c := range calls {
		if !c.done {
			t.Errorf("%s never ran", name)
		}
	}
	if b.busy != 0 || len(b.queue) != 0 {
		t.Fatalf("after the load: %d slots busy, %d in line", b.busy, len(b.queue))
	}
	// Each round's wait is observed once: a0 found the slot free, the
	// others waited.
	zero := 0
	for _, d := range waits {
		if d == 0 {
			zero++
		}
	}
	if len(waits) != 8 || zero != 1 {
		t.Fatalf("waits observed %v, want 8 with one 0", waits)
	}
}

// Rounds asking for the same rows as a round already in the next batch
// ride along without counting towards the batch size; the others wait
// their turn as before, and rounds of another shape never join.
func TestBatcherCoalescesSameRows(t *testing.T) {
	shapeA, shapeB := &combinedSQL{q: "A"}, &combinedSQL{q: "B"}
	e := &recordingExec{hold: make(chan struct{}), names: map[*combinedCall]string{}}
	b := newBatcher(1, 2, e.exec, nil)
	var wg sync.WaitGroup
	start := func(name string, cs *combinedSQL, args ...any) {
		c := &combinedCall{cs: cs, args: args}
		e.mu.Lock()
		e.names[c] = name
		e.mu.Unlock()
		wg.Go(func() {
			if err := b.run(context.Background(), c); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		})
	}
	// a0 asks what a1, a3 and a5 will ask, but its statement is on its
	// way before they arrive: they wait for the next one rather than take
	// rows read before they came.
	start("a0", shapeA, "x", int64(1))
	for b.slotsBusy() == 0 {
		time.Sleep(time.Millisecond)
	}
	order := []struct {
		name string
		cs   *combinedSQL
		args []any
	}{
		{"a1", shapeA, []any{"x", int64(1)}},
		{"a2", shapeA, []any{"y", int64(1)}},
		{"a3", shapeA, []any{"x", int64(1)}},
		{"a4", shapeA, []any{"z", int64(1)}},
		{"a5", shapeA, []any{"x", int64(1)}},
		{"a6", shapeA, []any{"x", int64(2)}},
		{"b1", shapeB, []any{"x", int64(1)}},
	}
	for i, r := range order {
		start(r.name, r.cs, r.args...)
		waitQueued(t, b, i+1)
	}
	for i := range 4 {
		release(t, e, i)
	}
	wg.Wait()
	// a1 and a2 fill the batch of two; a3 and a5 ask what a1 asks. a4 and
	// a6 are the next two distinct rounds of shape A.
	if got, want := fmt.Sprint(e.recorded()), "[[a0] [a1 a2 a3 a5] [a4 a6] [b1]]"; got != want {
		t.Fatalf("batches %s, want %s", got, want)
	}
}

func TestGroupSame(t *testing.T) {
	call := func(args ...any) *combinedCall {
		return &combinedCall{args: args, key: argsKey(args)}
	}
	a, b, c, d, e := call("u1", "p1"), call("u2", "p1"), call("u1", "p1"), call("u1", "p1", "x"), call(int64(1))
	f, g := call(int64(1)), call(1.5) // a float is never "the same": it costs a branch
	h := call(1.5)
	groups := groupSame([]*combinedCall{a, b, c, d, e, f, g, h})
	var got []int
	for _, grp := range groups {
		got = append(got, len(grp))
	}
	if fmt.Sprint(got) != "[2 1 1 2 1 1]" || groups[0][1] != c || groups[3][1] != f {
		t.Fatalf("groups of sizes %v", got)
	}
	for _, tc := range []struct {
		x, y []any
		same bool
	}{
		{nil, nil, true},
		{[]any{"a"}, []any{"a"}, true},
		{[]any{"a"}, []any{"b"}, false},
		{[]any{"1"}, []any{int64(1)}, false},
		{[]any{int64(1)}, []any{1}, false},
		{[]any{1, true}, []any{1, true}, true},
		{[]any{nil}, []any{nil}, true},
		{[]any{nil}, []any{""}, false},
		{[]any{[]byte("a")}, []any{[]byte("a")}, false},
		{[]any{"a"}, []any{"a", "a"}, false},
	} {
		if got := sameArgs(tc.x, tc.y); got != tc.same {
			t.Errorf("sameArgs(%#v, %#v) = %v", tc.x, tc.y, got)
		}
	}
}

// Rounds of one shape that differ only in some statements' arguments share
// the branches of the others: each statement's branches are its distinct
// argument runs, and every round reads the branch carrying its own.
func TestBranchLayout(t *testing.T) {
	// Three statements taking 1, 2 and 1 flat arguments.
	flat := []int{1, 2, 1}
	group := func(args ...any) []*combinedCall { return []*combinedCall{{args: args}} }
	groups := [][]*combinedCall{
		group("u1", "p1", "x", "a1"),
		group("u1", "p1", "x", "a2"),
		group("u2", "p1", "y", "a3"),
		group("u1", "p1", "x", "a1"), // groupSame would have merged it; still laid out right
	}
	l := branchLayoutOf(groups, flat)
	if got := fmt.Sprint(l.counts, l.reps, l.tag, l.stmtOf, l.tags); got != "[2 2 3] [[0 2] [0 2] [0 1 2]] [[0 2 4] [0 2 5] [1 3 6] [0 2 4]] [0 0 1 1 2 2 2] 7" {
		t.Fatalf("layout %s", got)
	}
	if got := fmt.Sprint(l.args(groups, flat)); got != "[u1 u2 p1 x p1 y a1 a2 a3]" {
		t.Fatalf("args %s", got)
	}
	f := fullLayout(2, 3)
	if got := fmt.Sprint(f.counts, f.tag, f.stmtOf, f.tags); got != "[2 2 2] [[0 2 4] [1 3 5]] [0 0 1 1 2 2] 6" {
		t.Fatalf("full layout %s", got)
	}
	if got := fmt.Sprint(f.args(groups[:2], flat)); got != "[u1 u1 p1 x p1 x a1 a2]" {
		t.Fatalf("full layout args %s", got)
	}
	a := aloneLayout(3)
	if got := fmt.Sprint(a.counts, a.tag, a.stmtOf, a.tags); got != "[1 1 1] [[0 1 2]] [0 1 2] 3" {
		t.Fatalf("alone layout %s", got)
	}
}

// A round finding a free slot runs at once, alone, however many slots
// there are; nothing batches without a wait.
func TestBatcherFreeSlotRunsAlone(t *testing.T) {
	e := &recordingExec{names: map[*combinedCall]string{}}
	b := newBatcher(2, 8, e.exec, nil)
	cs := &combinedSQL{}
	for i := range 3 {
		c := &combinedCall{cs: cs}
		e.names[c] = fmt.Sprint(i)
		if err := b.run(context.Background(), c); err != nil || !c.done {
			t.Fatalf("round %d: err %v, done %v", i, err, c.done)
		}
	}
	if got := fmt.Sprint(e.recorded()); got != "[[0] [1] [2]]" {
		t.Fatalf("batches %s", got)
	}
}

// A round whose request ends while it waits leaves the line without
// running; the others are not held up by it.
func TestBatcherContextEndsInLine(t *testing.T) {
	e := &recordingExec{hold: make(chan struct{}), names: map[*combinedCall]string{}}
	b := newBatcher(1, 8, e.exec, nil)
	cs := &combinedSQL{}
	first, gone, last := &combinedCall{cs: cs}, &combinedCall{cs: cs}, &combinedCall{cs: cs}
	e.names[first], e.names[gone], e.names[last] = "first", "gone", "last"
	done := make(chan error, 3)
	go func() { done <- b.run(context.Background(), first) }()
	for b.slotsBusy() == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- b.run(ctx, gone) }()
	waitQueued(t, b, 1)
	go func() { done <- b.run(context.Background(), last) }()
	waitQueued(t, b, 2)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("the cancelled round returned %v", err)
	}
	waitQueued(t, b, 1)
	release(t, e, 0)
	release(t, e, 1)
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if got := fmt.Sprint(e.recorded()); got != "[[first] [last]]" {
		t.Fatalf("batches %s", got)
	}
	if gone.done {
		t.Fatal("the cancelled round ran")
	}
}

// A statement that panics still wakes the rest of its batch (which then go
// their own way: done is false) and frees its slot for the next round.
func TestBatcherPanicFreesTheSlot(t *testing.T) {
	var (
		mu      sync.Mutex
		hold    = make(chan struct{})
		explode = true
	)
	b := newBatcher(1, 8, func(calls []*combinedCall) {
		<-hold
		mu.Lock()
		defer mu.Unlock()
		if len(calls) > 1 && explode {
			explode = false
			panic("statement failed badly")
		}
		for _, c := range calls {
			c.done = true
		}
	}, nil)
	cs := &combinedSQL{}
	first := &combinedCall{cs: cs}
	results := make(chan string, 4)
	run := func(name string, c *combinedCall) {
		defer func() {
			if v := recover(); v != nil {
				results <- name + " panicked"
			}
		}()
		if err := b.run(context.Background(), c); err != nil {
			results <- name + " " + err.Error()
			return
		}
		results <- fmt.Sprintf("%s done=%v", name, c.done)
	}
	go run("first", first)
	for b.slotsBusy() == 0 {
		time.Sleep(time.Millisecond)
	}
	go run("lead", &combinedCall{cs: cs})
	waitQueued(t, b, 1)
	go run("follow", &combinedCall{cs: cs})
	waitQueued(t, b, 2)
	hold <- struct{}{} // first runs
	hold <- struct{}{} // lead and follow: the batch panics
	var got []string
	for range 3 {
		got = append(got, <-results)
	}
	slices.Sort(got)
	if want := "first done=true|follow done=false|lead panicked"; strings.Join(got, "|") != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	after := &combinedCall{cs: cs}
	go run("after", after)
	hold <- struct{}{}
	if r := <-results; r != "after done=true" {
		t.Fatalf("after the panic: %s", r)
	}
}

func (b *batcher) slotsBusy() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.busy
}

// Batches whose rounds share branches are one prepared text per pattern:
// they stop being prepared before plain batches do, and past maxVariants
// patterns per shape only plain batches are built, so that rare patterns
// never take the room of the batches every shape needs.
func TestSharedBatchesBounded(t *testing.T) {
	p := &preparer{stmts: map[string]*sql.Stmt{}}
	for i := range maxSharedPrepared {
		p.stmts[fmt.Sprint(i)] = &sql.Stmt{}
	}
	if p.roomForBatch("new", true) || !p.roomForBatch("new", false) || !p.roomForBatch("0", true) {
		t.Fatalf("at %d statements: a new sharing batch must wait, a plain one or a prepared one go", maxSharedPrepared)
	}
	for i := maxSharedPrepared; i < maxBatchPrepared; i++ {
		p.stmts[fmt.Sprint(i)] = &sql.Stmt{}
	}
	if p.roomForBatch("new", false) || !p.roomForBatch("0", false) {
		t.Fatalf("at %d statements: no new batch, prepared ones go", maxBatchPrepared)
	}

	sts := []stmt{
		{sql: "SELECT a FROM t WHERE id = ?", args: []any{"x"}, cols: 1},
		{sql: "SELECT b, c FROM u WHERE id = ?", args: []any{"y"}, cols: 2},
	}
	cs := &combinedSQL{sts: sts, flat: flatLens(sts)}
	for i := range maxVariants {
		if b := cs.batched([]int{1, i + 2}); b == nil {
			t.Fatalf("pattern %d not built", i)
		}
	}
	if cs.batched([]int{1, maxVariants + 2}) != nil {
		t.Fatal("a sharing pattern past the bound was built")
	}
	b := cs.batched([]int{3, 3})
	if b == nil {
		t.Fatal("a plain batch past the bound was not built")
	}
	if want := "SELECT 0, a, NULL FROM t WHERE id = ?\nUNION ALL\nSELECT 1, a, NULL FROM t WHERE id = ?\nUNION ALL\nSELECT 2, a, NULL FROM t WHERE id = ?\nUNION ALL\nSELECT 3, b, c FROM u WHERE id = ?"; !strings.HasPrefix(b.q, want) {
		t.Fatalf("plain batch of 3:\n%s", b.q)
	}
}
