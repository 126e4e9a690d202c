package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// peakRSSTo, set in the environment of the test binary, makes it run the
// command its arguments name and write that child's peak RSS to the file
// the variable names (see measured).
const peakRSSTo = "IPT_TEST_PEAK_RSS_TO"

// measured returns a command that runs name with args through the test
// binary, and what reads the peak RSS of name's process once it has run
// (on Linux; false elsewhere). The test binary starts it from a small
// process: Linux counts in a child's peak RSS the RSS of the process that
// started it (exec carries the high-water mark over from the vfork'd
// address space), and the test process may be large by the time a test
// runs, from the in-process restorations before it.
func measured(t *testing.T, name string, args ...string) (*exec.Cmd, func() (int64, bool)) {
	to := filepath.Join(t.TempDir(), "peak-rss")
	cmd := exec.Command(os.Args[0], append([]string{name}, args...)...)
	cmd.Env = append(os.Environ(), peakRSSTo+"="+to)
	return cmd, func() (int64, bool) {
		b, err := os.ReadFile(to)
		if err != nil {
			return 0, false
		}
		n, err := strconv.ParseInt(string(b), 10, 64)
		return n, err == nil
	}
}

// runForPeakRSS runs args with this process's standard streams and
// environment (peakRSSTo left out), writes its peak RSS to the file to
// where it is known, and returns its exit status.
func runForPeakRSS(to string, args []string) int {
	os.Unsetenv(peakRSSTo)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil && cmd.ProcessState == nil {
		os.Stderr.WriteString(err.Error() + "\n")
		return 127
	}
	if rss, ok := peakRSS(cmd.ProcessState); ok {
		if err := os.WriteFile(to, []byte(strconv.FormatInt(rss, 10)), 0o644); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			return 127
		}
	}
	return cmd.ProcessState.ExitCode()
}
