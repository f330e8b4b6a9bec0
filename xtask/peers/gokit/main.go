// Command gokit-peers measures go-kit's discovery read path, so that sd's criterion
// figures for the same operations (crates/sd-lb/benches/peers.rs) can be set beside it
// in one run of `cargo xtask bench-peers`.
//
// It is built against Debian's golang-github-go-kit-kit-dev (go-kit 0.10) in GOPATH mode:
// GO111MODULE=off, GOPATH=/usr/share/gocode. There is no module proxy to reach, and the
// Debian packages carry no module metadata for go-kit's dependencies, so a go.mod with
// `replace` lines cannot resolve offline; GOPATH mode needs nothing but the packages.
//
// Every case builds go-kit's endpointer (sd.NewEndpointer over an sd.FixedInstancer, a
// factory returning a trivial endpoint) with N instances, then starts T goroutines
// together, each locked to an OS thread and doing K calls. The figure is the slowest
// goroutine's wall time divided by K, in ns: the time of one call while the other
// goroutines do the same, as sd's benches measure it. Each case runs several rounds and
// reports the median.
//
//   - endpoints-N-tT: DefaultEndpointer.Endpoints(), the endpointer shared by all
//     goroutines (it is safe for that, behind a sync.RWMutex).
//   - round_robin-N-tT: lb.NewRoundRobin(endpointer).Endpoint(), one balancer shared by
//     all goroutines: go-kit's round robin is one counter per balancer, and a client's
//     goroutines share its balancer.
//   - random-N-tT: lb.NewRandom(endpointer, seed).Endpoint(), one balancer per goroutine:
//     its *rand.Rand is not safe for concurrent use, so sharing one would be a data race.
//   - floor-tT: a call that only returns a constant: the harness's own cost per call.
//
// Output: one line per case, `gokit ID NS`; lines starting with `#` are comments.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/go-kit/kit/endpoint"
	"github.com/go-kit/kit/log"
	"github.com/go-kit/kit/sd"
	"github.com/go-kit/kit/sd/lb"
)

// sink keeps the compiler from dropping the measured calls.
var sink int

func main() {
	rounds := flag.Int("rounds", 5, "measured rounds per case; the median is reported")
	roundTime := flag.Duration("round-time", 300*time.Millisecond, "about how long one round of one case takes")
	flag.Parse()
	if *rounds < 1 {
		fmt.Fprintln(os.Stderr, "gokit-peers: -rounds must be at least 1")
		os.Exit(2)
	}
	// At least as many Ps as goroutines, so T goroutines do run at once.
	if runtime.GOMAXPROCS(0) < 2 {
		runtime.GOMAXPROCS(2)
	}
	fmt.Printf("# %s, GOMAXPROCS %d, %d rounds of about %v per case\n",
		runtime.Version(), runtime.GOMAXPROCS(0), *rounds, *roundTime)

	// The harness alone: a call that only returns a constant.
	for _, threads := range []int{1, 2} {
		ns := measure(threads, *rounds, *roundTime, func(int) func() int {
			return func() int { return 1 }
		})
		fmt.Printf("gokit floor-t%d %.2f\n", threads, ns)
	}
	for _, n := range []int{16, 100} {
		endpointer := newEndpointer(n)
		roundRobin := lb.NewRoundRobin(endpointer)
		for _, threads := range []int{1, 2} {
			cases := []struct {
				name string
				// op returns one goroutine's call; goroutine is its index.
				op func(goroutine int) func() int
			}{
				{"endpoints", func(int) func() int {
					return func() int {
						if endpoints, _ := endpointer.Endpoints(); len(endpoints) > 0 {
							return 1
						}
						return 0
					}
				}},
				{"round_robin", func(int) func() int {
					return func() int { return picked(roundRobin) }
				}},
				{"random", func(goroutine int) func() int {
					random := lb.NewRandom(endpointer, int64(goroutine)+1)
					return func() int { return picked(random) }
				}},
			}
			for _, c := range cases {
				ns := measure(threads, *rounds, *roundTime, c.op)
				fmt.Printf("gokit %s-%d-t%d %.2f\n", c.name, n, threads, ns)
			}
		}
		endpointer.Close()
	}
	if sink == 42 {
		fmt.Println("#")
	}
}

// picked is one pick: 1 when the balancer gave an endpoint.
func picked(balancer lb.Balancer) int {
	endpoint, err := balancer.Endpoint()
	if err != nil || endpoint == nil {
		return 0
	}
	return 1
}

// newEndpointer is go-kit's endpointer over n fixed instances, once it serves all n
// (the instancer's event reaches the endpointer's own goroutine asynchronously).
func newEndpointer(n int) *sd.DefaultEndpointer {
	instances := make([]string, n)
	for i := range instances {
		instances[i] = fmt.Sprintf("10.0.%d.%d:8080", i/256, i%256)
	}
	factory := func(instance string) (endpoint.Endpoint, io.Closer, error) {
		return func(context.Context, interface{}) (interface{}, error) { return instance, nil }, nil, nil
	}
	endpointer := sd.NewEndpointer(sd.FixedInstancer(instances), factory, log.NewNopLogger())
	deadline := time.Now().Add(10 * time.Second)
	for {
		endpoints, err := endpointer.Endpoints()
		if err == nil && len(endpoints) == n {
			return endpointer
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(os.Stderr, "gokit-peers: the endpointer never served %d endpoints\n", n)
			os.Exit(1)
		}
		time.Sleep(time.Millisecond)
	}
}

// measure finds a call count that takes about roundTime on one goroutine alone, then
// runs that many calls on each of `threads` goroutines at once, `rounds` times, and
// returns the median of the per-call times (slowest goroutine / calls), in ns.
func measure(threads, rounds int, roundTime time.Duration, op func(goroutine int) func() int) float64 {
	calls := 1000
	for {
		took := run(1, calls, op)
		if took >= roundTime/10 || calls >= 1<<30 {
			calls = int(float64(calls) * float64(roundTime) / float64(took+1))
			break
		}
		calls *= 10
	}
	if calls < 1000 {
		calls = 1000
	}
	run(threads, calls/10, op) // warm up: caches, the scheduler's threads
	perCall := make([]float64, rounds)
	for i := range perCall {
		perCall[i] = float64(run(threads, calls, op).Nanoseconds()) / float64(calls)
	}
	sort.Float64s(perCall)
	return perCall[rounds/2]
}

// run does `calls` calls on each of `threads` goroutines, started together, and returns
// the wall time of the slowest.
func run(threads, calls int, op func(goroutine int) func() int) time.Duration {
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	took := make([]time.Duration, threads)
	ready.Add(threads)
	done.Add(threads)
	for g := 0; g < threads; g++ {
		go func(g int) {
			defer done.Done()
			// One OS thread per goroutine, as sd's bench has one thread per reader.
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			call := op(g)
			ready.Done()
			<-start
			t := time.Now()
			got := 0
			for i := 0; i < calls; i++ {
				got += call()
			}
			took[g] = time.Since(t)
			if got != calls {
				fmt.Fprintf(os.Stderr, "gokit-peers: %d of %d calls found no endpoint\n", calls-got, calls)
				os.Exit(1)
			}
		}(g)
	}
	ready.Wait()
	close(start)
	done.Wait()
	slowest := took[0]
	for _, t := range took[1:] {
		if t > slowest {
			slowest = t
		}
	}
	sink += int(slowest)
	return slowest
}
