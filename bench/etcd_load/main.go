// etcd-load: a load generator that drives etcd through its native gRPC API (clientv3), the
// fastest way a client can reach etcd. bench/run builds it from Debian's golang-go and
// golang-etcd-server-dev in GOPATH mode and bench/etcd_native.ts runs it beside wrk, so that
// etcd is measured on its own best path, not only through the HTTP/JSON gateway.
//
// Each of -concurrency workers keeps one request in flight (as each wrk connection does) on
// one of -connections gRPC client connections (workers spread round-robin). At the end it
// prints one line, "BENCHJSON {...}", in the shape of bench/lua/common.lua's: requests,
// errors, latency percentiles in microseconds, and this process's own CPU seconds over the
// measured window (getrusage), so a reader can see the generator was not starved.
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.etcd.io/etcd/clientv3"
)

type options struct {
	endpoints   []string
	op          string
	connections int
	concurrency int
	duration    time.Duration
	timeout     time.Duration
	keySize     int
	valueSize   int
	prefix      string
	keys        int
	consistency string
}

func parseFlags() options {
	var o options
	endpoints := flag.String("endpoints", "127.0.0.1:2379", "comma-separated client URLs or host:port")
	flag.StringVar(&o.op, "op", "put", "put (unique keys <prefix>-<worker>-<n>) or get (random keys <prefix><0..keys-1>)")
	flag.IntVar(&o.connections, "connections", 1, "gRPC client connections; workers are spread over them")
	flag.IntVar(&o.concurrency, "concurrency", 1, "workers, each with one request in flight")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "how long to send requests")
	flag.DurationVar(&o.timeout, "timeout", 5*time.Second, "per-request timeout (counted as an error)")
	flag.IntVar(&o.keySize, "key-size", 0, "put: pad keys with zeros in the counter to at least this many bytes (0: no padding)")
	flag.IntVar(&o.valueSize, "value-size", 16, "put: value bytes (\"value-0123456789\" repeated, cut to size)")
	flag.StringVar(&o.prefix, "prefix", "w", "key prefix")
	flag.IntVar(&o.keys, "keys", 1000, "get: how many preloaded keys <prefix>0..<prefix>(keys-1) to pick from")
	flag.StringVar(&o.consistency, "consistency", "linearizable", "get: linearizable or serializable")
	flag.Parse()
	o.endpoints = strings.Split(*endpoints, ",")
	bad := func(msg string) {
		fmt.Fprintln(os.Stderr, "etcd-load:", msg)
		os.Exit(2)
	}
	if o.op != "put" && o.op != "get" {
		bad("-op must be put or get")
	}
	if o.consistency != "linearizable" && o.consistency != "serializable" {
		bad("-consistency must be linearizable or serializable")
	}
	if o.connections < 1 || o.concurrency < 1 || o.keys < 1 || o.valueSize < 0 || o.duration <= 0 {
		bad("-connections, -concurrency, -keys and -duration must be positive")
	}
	if o.connections > o.concurrency {
		o.connections = o.concurrency // an idle connection measures nothing
	}
	return o
}

// value of n bytes, the same 16-byte pattern wrk's scripts write.
func value(n int) string {
	const pattern = "value-0123456789"
	return strings.Repeat(pattern, n/len(pattern)+1)[:n]
}

// cpuSeconds is this process's user+system CPU time so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

// workerResult holds one worker's latencies (ns, every completed request) and its errors.
type workerResult struct {
	latencies []int64
	errors    int
}

// run is one worker: requests back to back on cli until the deadline.
func run(o options, cli *clientv3.Client, worker int, deadline time.Time, val string) workerResult {
	res := workerResult{latencies: make([]int64, 0, 1<<14)}
	rng := rand.New(rand.NewSource(int64(worker)*7919 + 1))
	var getOpts []clientv3.OpOption
	if o.consistency == "serializable" {
		getOpts = append(getOpts, clientv3.WithSerializable())
	}
	keyPrefix := o.prefix + "-" + strconv.Itoa(worker) + "-"
	width := o.keySize - len(keyPrefix)
	for n := 1; time.Now().Before(deadline); n++ {
		var key string
		if o.op == "put" {
			key = keyPrefix + fmt.Sprintf("%0*d", width, n)
		} else {
			key = o.prefix + strconv.Itoa(rng.Intn(o.keys))
		}
		ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
		t0 := time.Now()
		var err error
		if o.op == "put" {
			_, err = cli.Put(ctx, key, val)
		} else {
			var r *clientv3.GetResponse
			r, err = cli.Get(ctx, key, getOpts...)
			if err == nil && len(r.Kvs) == 0 {
				err = fmt.Errorf("key %s not found", key)
			}
		}
		res.latencies = append(res.latencies, time.Since(t0).Nanoseconds())
		cancel()
		if err != nil {
			res.errors++
		}
	}
	return res
}

// percentile p (0..100) of sorted values, nearest rank.
func percentile(sorted []int64, p float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.999999) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(sorted) {
		i = len(sorted) - 1
	}
	return sorted[i]
}

func main() {
	o := parseFlags()
	clients := make([]*clientv3.Client, o.connections)
	for i := range clients {
		cli, err := clientv3.New(clientv3.Config{Endpoints: o.endpoints, DialTimeout: 5 * time.Second})
		if err != nil {
			fmt.Fprintln(os.Stderr, "etcd-load: connect:", err)
			os.Exit(1)
		}
		defer cli.Close()
		clients[i] = cli
	}
	val := value(o.valueSize)

	cpu0 := cpuSeconds()
	start := time.Now()
	deadline := start.Add(o.duration)
	results := make([]workerResult, o.concurrency)
	var wg sync.WaitGroup
	for w := 0; w < o.concurrency; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			results[w] = run(o, clients[w%len(clients)], w, deadline, val)
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := cpuSeconds() - cpu0

	var all []int64
	errors := 0
	for _, r := range results {
		all = append(all, r.latencies...)
		errors += r.errors
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	var sum int64
	for _, x := range all {
		sum += x
	}
	mean := 0.0
	if len(all) > 0 {
		mean = float64(sum) / float64(len(all)) / 1e3
	}
	us := func(p float64) int64 { return percentile(all, p) / 1e3 }
	max := int64(0)
	if len(all) > 0 {
		max = all[len(all)-1] / 1e3
	}
	fmt.Printf("BENCHJSON {\"requests\":%d,\"errors\":%d,\"duration_us\":%d,\"p50_us\":%d,\"p90_us\":%d,\"p99_us\":%d,"+
		"\"p999_us\":%d,\"max_us\":%d,\"mean_us\":%.1f,\"cpu_s\":%.3f,\"connections\":%d,\"concurrency\":%d}\n",
		len(all), errors, elapsed.Microseconds(), us(50), us(90), us(99), us(99.9), max, mean, cpu, o.connections, o.concurrency)
}
