package store

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/config"
	"github.com/keystone-ng/keystone-ng/pkg/token"
)

// Admission control. The reader owns it, from one limits value
// (config.DBLimits, resolved once at start and passed to Limit): at most
// Rounds validation rounds read at once (Round), and on MySQL/MariaDB and PostgreSQL at
// most Statements combined statements are in flight, each carrying up to
// Batch waiting rounds of one shape (the batcher below).

// Waits are told how long each round waited for admission, for the
// metrics: Round at the round gate, Statement for a statement slot
// (batching, MySQL/MariaDB and PostgreSQL). Either may be nil.
type Waits struct {
	Round, Statement func(time.Duration)
}

// Limit sets the reader's admission control from l; call it once, before
// the reader serves. Without it every round and statement goes at once.
// Only MySQL/MariaDB and PostgreSQL combine statements, so only they batch (and only for
// l.Statements >= 1 and l.Batch >= 2).
func (r *Reader) Limit(l config.DBLimits, w Waits) {
	r.gate, r.roundWaited = newRoundGate(l.Rounds), w.Round
	r.batch = nil
	if r.prep != nil && l.Statements >= 1 && l.Batch >= 2 {
		r.batch = newBatcher(l.Statements, l.Batch, r.execBatch, w.Statement)
	}
}

// Round runs one round of a validation's lookups (token.Rounder), holding
// a place at the round gate while they run.
func (r *Reader) Round(ctx context.Context, fns ...func() error) error {
	waited, err := r.gate.enter(ctx)
	if r.roundWaited != nil && r.gate != nil {
		r.roundWaited(waited)
	}
	if err != nil {
		return fmt.Errorf("waiting for a database turn: %w", err)
	}
	defer r.gate.leave()
	return token.Concurrently(fns...)
}

// roundGate is a first-come-first-served bound on how many validations
// run a round of database lookups at the same time. Under a load the
// database cannot keep up with, letting every request in at once has each
// of them compete for the same cores (on MariaDB one server thread per
// connection): throughput does not rise, the database spends more CPU per
// statement and the slowest answers wait for the scheduler. Waiting in
// line here instead keeps the database's work per validation and the
// latency spread down (docs/performance.md). Go's channel sends queue in
// arrival order, so the first to wait is the first let in.
type roundGate chan struct{}

// newRoundGate returns a gate for n concurrent rounds; nil (no bound) for
// n <= 0.
func newRoundGate(n int) roundGate {
	if n <= 0 {
		return nil
	}
	return make(roundGate, n)
}

// enter takes a place, waiting in line if none is free, and reports how
// long it waited (the clock is read only when it had to wait).
func (g roundGate) enter(ctx context.Context) (time.Duration, error) {
	if g == nil {
		return 0, nil
	}
	select {
	case g <- struct{}{}:
		return 0, nil
	default:
	}
	start := time.Now()
	select {
	case g <- struct{}{}:
		return time.Since(start), nil
	case <-ctx.Done():
		return time.Since(start), ctx.Err()
	}
}

func (g roundGate) leave() {
	if g != nil {
		<-g
	}
}

// Batching (MySQL/MariaDB and PostgreSQL, combined statements).
//
// Each combined statement costs MariaDB a fixed part (reading the request,
// waking its thread, opening and locking every table of the statement,
// sending the reply) besides the index lookups, and costs keystone-ng a
// write, a read and a park. Under load the rounds that find every
// statement slot busy would each pay that fixed part again, one after the
// other. Instead, the next statement carries the waiting rounds of one
// shape (the same combined SQL): one UNION ALL of their branches, each
// branch tagged with its own index, so every round gets exactly the rows
// it would have got alone, read in the same statement and so from the
// same snapshot of each table as before. A round that finds a free slot
// runs at once, alone: batches form only from rounds that had to wait
// anyway, and an idle service sends what it always sent.
//
// Measured on the first round of a project token at concurrency 4, rounds
// four to a statement cost MariaDB 200-220 against 285-310 us and the
// client 24 against 77-86 us of CPU per round; end to end, keystone-ng
// validated 37-52% more tokens per second on the two-core bench, with a
// lower p99 (docs/performance.md).
//
// The oldest waiting round leads the next batch and keeps its place in
// line; the waiting rounds of its shape join it in arrival order, up to
// max, and rounds of other shapes wait for the next slot. Each batch size
// is one more prepared statement per shape, within the preparer's budget
// for batches (maxBatchPrepared); beyond it, rounds go one statement each.

// batcher bounds the combined statements in flight to slots and lets
// waiting rounds share them.
type batcher struct {
	slots, max int
	// exec runs a batch (Reader.execBatch).
	exec func([]*combinedCall)
	// waited, if set, is told how long each round waited for a slot (0
	// when one was free).
	waited func(time.Duration)
	// off is set when the server refuses a batched statement: from then
	// on every round runs alone (still bounded by slots).
	off atomic.Bool

	mu    sync.Mutex
	busy  int
	queue []*batchWait
}

// batchWait is a round waiting for a slot. wake is closed when its rows
// are in, or, for the round leading a batch, when it is to run it (lead).
type batchWait struct {
	call  *combinedCall
	wake  chan struct{}
	lead  []*batchWait
	taken bool // in a batch: it can no longer leave the line
}

func newBatcher(slots, size int, exec func([]*combinedCall), waited func(time.Duration)) *batcher {
	return &batcher{slots: slots, max: size, exec: exec, waited: waited}
}

// run runs c's statements, alone or with other waiting rounds. The error
// is the context's, when it ended while c was still in line.
func (b *batcher) run(ctx context.Context, c *combinedCall) error {
	w := &batchWait{call: c}
	c.key = argsKey(c.args)
	b.mu.Lock()
	if b.busy < b.slots {
		b.busy++
		b.mu.Unlock()
		if b.waited != nil {
			b.waited(0)
		}
		b.lead([]*batchWait{w})
		return nil
	}
	w.wake = make(chan struct{})
	b.queue = append(b.queue, w)
	b.mu.Unlock()
	if b.waited != nil {
		start := time.Now()
		defer func() { b.waited(time.Since(start)) }()
	}
	select {
	case <-w.wake:
	case <-ctx.Done():
		b.mu.Lock()
		if !w.taken {
			b.remove(w)
			b.mu.Unlock()
			return ctx.Err()
		}
		b.mu.Unlock()
		<-w.wake // its rows are on their way, or it leads
	}
	if w.lead != nil {
		b.lead(w.lead)
	}
	return nil
}

// lead runs a batch in the slot it holds, wakes the batch's other rounds,
// and hands the slot on. The deferred part runs even if the statement
// panics, so that no round waits forever: a round whose call did not
// complete (done false) sends its statements one by one.
func (b *batcher) lead(batch []*batchWait) {
	defer func() {
		for _, w := range batch[1:] {
			close(w.wake)
		}
		b.handOff()
	}()
	calls := make([]*combinedCall, len(batch))
	for i, w := range batch {
		calls[i] = w.call
	}
	b.exec(calls)
}

// handOff gives the slot just used to the oldest waiting round, with the
// rounds of its shape that wait behind it (all of them, up to max distinct
// ones), or frees the slot. (Batches of powers of two only, for fewer
// prepared statements, left the rest waiting a whole statement longer:
// about 10% less throughput and a higher p99 on the bench,
// docs/performance.md.) A round asking for the same rows as one already
// taken (sameArgs) rides along without counting: it adds nothing to the
// statement (execBatch).
func (b *batcher) handOff() {
	b.mu.Lock()
	if len(b.queue) == 0 {
		b.busy--
		b.mu.Unlock()
		return
	}
	head := b.queue[0]
	limit := b.max
	if b.off.Load() {
		limit = 1
	}
	next := make([]*batchWait, 0, min(limit, len(b.queue)))
	rest := b.queue[:0]
	distinct := 0
	for _, w := range b.queue {
		if w.call.cs == head.call.cs {
			same := sameAsTaken(next, w.call)
			if same || distinct < limit {
				if !same {
					distinct++
				}
				w.taken = true
				next = append(next, w)
				continue
			}
		}
		rest = append(rest, w)
	}
	clear(b.queue[len(rest):])
	b.queue = rest
	head.lead = next
	b.mu.Unlock()
	close(head.wake)
}

func (b *batcher) remove(w *batchWait) {
	for i, x := range b.queue {
		if x == w {
			b.queue = append(b.queue[:i], b.queue[i+1:]...)
			return
		}
	}
}

// execBatch runs the calls (of one shape) as one statement. Calls asking
// for the same rows (sameArgs: the same statements with the same
// arguments) share one set of branches and so the same rows, read by the
// one statement that every one of them waited for; nothing read before a
// call arrived is ever handed to it. Of the other calls, those whose
// statement j has the same arguments (the same user's different tokens
// share all but the revocation read) share statement j's branch
// (branchLayoutOf). A batch that cannot be prepared (no room, preparer)
// or did not run (refused, or an error of that execution) runs as single
// statements, prepared already, one per distinct call.
func (r *Reader) execBatch(calls []*combinedCall) {
	groups := groupSame(calls)
	cs := calls[0].cs
	shared := func() {
		r.batches.Add(1)
		r.batchedRounds.Add(uint64(len(calls)))
		r.coalesced.Add(uint64(len(calls) - len(groups)))
	}
	if len(groups) > 1 && len(cs.flat) == len(cs.sts) {
		lay := branchLayoutOf(groups, cs.flat)
		sharing := lay.tags < len(groups)*len(cs.sts)
		b := cs.batched(lay.counts)
		if sharing && (b == nil || !r.prep.roomForBatch(b.q, true)) {
			// No room for this pattern: the same rounds with a branch
			// each, as before branches were shared.
			lay = fullLayout(len(groups), len(cs.sts))
			b = cs.batched(lay.counts)
		}
		if b != nil && r.prep.roomForBatch(b.q, false) && r.execCombined(b, lay.args(groups, cs.flat), groups, lay) {
			shared()
			return
		}
	}
	for _, g := range groups {
		if r.execCombined(cs, g[0].args, [][]*combinedCall{g}, aloneLayout(len(cs.sts))) && len(groups) == 1 && len(g) > 1 {
			shared()
		}
	}
}
