// Command porcupine-driver checks histories in the checker's JSON Lines with Porcupine, the
// published checker the benches compare against (`scripts/bench-checker-vs-porcupine.sh` builds
// it against a Porcupine checkout given by path). This file is the checker project's own code; it
// only calls Porcupine's public API.
//
//	porcupine-driver [-timeout S] [-absent-empty] FILE.jsonl...
//
// Per file it prints one JSON line: {"file", "verdict" (Ok, Illegal or Unknown), "seconds",
// "peak_bytes" (of this process so far)}. Porcupine has no unknown outcomes: an operation whose
// outcome is unknown is given a return after every other event (it may take effect at any point
// after its invocation; a cas of unknown outcome whose comparison fails takes no effect, as in
// Porcupine's own etcd model, so that "never" is the end of the history), and a read of unknown
// outcome, which observes nothing, is left out, as the checker does. Failed operations are left
// out.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/anishathalye/porcupine"
)

type event struct {
	Process json.RawMessage `json:"process"`
	Type    string          `json:"type"`
	F       string          `json:"f"`
	Key     *string         `json:"key"`
	Value   json.RawMessage `json:"value"`
}

// unknownOutput is the output of an operation whose outcome is unknown.
const unknownOutput = "\x00unknown"

// input is what an operation does, decoded once when the history is read so that a step only
// compares strings: its function, key, and argument as a state (a cas: what it expects, and what
// it sets).
type input struct {
	f        string
	key      string
	argument string
	expected string
	valid    bool
}

// A state is a value held: "s:" and the text of a string, or "j:" and the JSON of anything else
// ("j:null" when nothing is held).
func state(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "j:null"
	}
	var value interface{}
	if json.Unmarshal(raw, &value) != nil {
		return "j:" + string(raw)
	}
	if text, isText := value.(string); isText {
		return "s:" + text
	}
	encoded, _ := json.Marshal(value)
	return "j:" + string(encoded)
}

func decode(f, key string, raw json.RawMessage) input {
	in := input{f: f, key: key, argument: state(raw), valid: true}
	if f == "cas" || f == "compare-and-set" {
		var pair []json.RawMessage
		if json.Unmarshal(raw, &pair) != nil || len(pair) != 2 {
			in.valid = false
			return in
		}
		in.expected, in.argument = state(pair[0]), state(pair[1])
	}
	return in
}

func step(absent string) func(state, in, out interface{}) (bool, interface{}) {
	return func(current, in, out interface{}) (bool, interface{}) {
		s := current.(string)
		i := in.(input)
		switch i.f {
		case "read", "get", "r":
			return out.(string) == s, s
		case "write", "put", "set", "w":
			return true, i.argument
		case "delete", "del":
			return true, absent
		case "cas", "compare-and-set":
			if !i.valid {
				return false, s
			}
			if i.expected != s {
				// A cas of unknown outcome whose comparison fails took no effect.
				return out.(string) == unknownOutput, s
			}
			return true, i.argument
		case "append":
			if !strings.HasPrefix(i.argument, "s:") {
				return false, s
			}
			switch {
			case s == "j:null":
				return true, i.argument
			case strings.HasPrefix(s, "s:"):
				return true, s + i.argument[2:]
			}
			return false, s
		}
		return false, s
	}
}

func load(path string) ([]porcupine.Operation, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	type pending struct {
		index int
		in    input
		call  int64
	}
	open := map[string]pending{}
	var operations []porcupine.Operation
	var unknown []int
	processes := map[string]int{}
	scanner := bufio.NewScanner(file)
	scanner.Buffer(make([]byte, 1<<20), 1<<26)
	var position int64
	for scanner.Scan() {
		line := scanner.Bytes()
		if len(line) == 0 {
			continue
		}
		var e event
		if err := json.Unmarshal(line, &e); err != nil {
			return nil, fmt.Errorf("%s: line %d: %v", path, position+1, err)
		}
		position++
		process := string(e.Process)
		if _, seen := processes[process]; !seen {
			processes[process] = len(processes)
		}
		key := ""
		if e.Key != nil {
			key = *e.Key
		}
		switch e.Type {
		case "invoke":
			open[process] = pending{index: -1, in: decode(e.F, key, e.Value), call: position}
		case "ok", "fail", "info":
			p, found := open[process]
			if !found {
				return nil, fmt.Errorf("%s: line %d: a completion without an invocation", path, position)
			}
			delete(open, process)
			isRead := p.in.f == "read" || p.in.f == "get" || p.in.f == "r"
			if e.Type == "fail" || (e.Type == "info" && isRead) {
				continue
			}
			output := state(e.Value)
			if e.Type == "info" {
				output = unknownOutput
			}
			operation := porcupine.Operation{ClientId: processes[process], Input: p.in, Call: p.call, Output: output, Return: position}
			if e.Type == "info" {
				unknown = append(unknown, len(operations))
			}
			operations = append(operations, operation)
		}
	}
	if err := scanner.Err(); err != nil {
		return nil, err
	}
	// Never completed, and unknown outcomes: a return after every event.
	for _, p := range open {
		isRead := p.in.f == "read" || p.in.f == "get" || p.in.f == "r"
		if !isRead {
			unknown = append(unknown, len(operations))
			operations = append(operations, porcupine.Operation{Input: p.in, Call: p.call, Output: unknownOutput})
		}
	}
	for _, index := range unknown {
		operations[index].Return = position + 1
	}
	return operations, nil
}

func peakBytes() int64 {
	var usage syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &usage) != nil {
		return 0
	}
	return usage.Maxrss * 1024
}

func main() {
	timeout := flag.Float64("timeout", 60, "seconds per history before the verdict is Unknown")
	absentEmpty := flag.Bool("absent-empty", false, "a key never written reads as \"\"")
	flag.Parse()
	initial := "j:null"
	if *absentEmpty {
		initial = "s:"
	}
	model := porcupine.Model{
		Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
			byKey := map[string][]porcupine.Operation{}
			for _, operation := range history {
				key := operation.Input.(input).key
				byKey[key] = append(byKey[key], operation)
			}
			keys := make([]string, 0, len(byKey))
			for key := range byKey {
				keys = append(keys, key)
			}
			sort.Strings(keys)
			partitions := make([][]porcupine.Operation, 0, len(keys))
			for _, key := range keys {
				partitions = append(partitions, byKey[key])
			}
			return partitions
		},
		Init:  func() interface{} { return initial },
		Step:  step(initial),
		Equal: func(a, b interface{}) bool { return a.(string) == b.(string) },
	}
	for _, path := range flag.Args() {
		operations, err := load(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "error:", err)
			os.Exit(3)
		}
		started := time.Now()
		verdict := porcupine.CheckOperationsTimeout(model, operations, time.Duration(*timeout*float64(time.Second)))
		seconds := time.Since(started).Seconds()
		line, _ := json.Marshal(map[string]interface{}{
			"file": path, "verdict": string(verdict), "seconds": seconds, "peak_bytes": peakBytes(),
		})
		fmt.Println(string(line))
	}
}
