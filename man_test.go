package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The manual (man/ipt.1) must say what --help says, and the shell
// completion must offer what the command line accepts. Both are checked
// against the built binary, so a flag added to a command without a line in
// the manual fails here.

const manPage = "man/ipt.1"

var (
	// A command line of "ipt --help": two spaces, then its name.
	helpCommand = regexp.MustCompile(`(?m)^  ([a-z][a-z0-9-]*)\b`)
	// A flag line of "ipt CMD --help": "  -x, --scale=…" or "      --sigma=…";
	// wrapped help text is indented further.
	helpFlag = regexp.MustCompile(`(?m)^(?:  -([A-Za-z0-9]), |      )--([a-z0-9][a-z0-9-]*)`)
)

// helpCommands lists the commands of "ipt --help".
func helpCommands(t *testing.T) []string {
	t.Helper()
	r := runIPT(t, nil, nil, "--help")
	if r.code != 0 {
		t.Fatalf("ipt --help: exit %d\n%s", r.code, r.stderr)
	}
	_, section, ok := strings.Cut(string(r.stdout), "\nCommands:\n")
	if !ok {
		t.Fatalf("ipt --help has no Commands section:\n%s", r.stdout)
	}
	var cmds []string
	for _, m := range helpCommand.FindAllStringSubmatch(section, -1) {
		cmds = append(cmds, m[1])
	}
	if len(cmds) < 5 {
		t.Fatalf("found only %q in ipt --help:\n%s", cmds, r.stdout)
	}
	return cmds
}

// helpFlags returns the long flags, and the short ones, of "ipt args… --help".
func helpFlags(t *testing.T, args ...string) (long, short []string) {
	t.Helper()
	r := runIPT(t, nil, nil, append(slices.Clip(args), "--help")...)
	if r.code != 0 {
		t.Fatalf("ipt %s --help: exit %d\n%s", strings.Join(args, " "), r.code, r.stderr)
	}
	_, section, ok := strings.Cut(string(r.stdout), "\nFlags:\n")
	if !ok {
		t.Fatalf("ipt %s --help has no Flags section:\n%s", strings.Join(args, " "), r.stdout)
	}
	for _, m := range helpFlag.FindAllStringSubmatch(section, -1) {
		if m[1] != "" {
			short = append(short, m[1])
		}
		long = append(long, m[2])
	}
	return long, short
}

func readManPage(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(manPage)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestManDocumentsEveryCommandAndFlag: each command of ipt --help has an
// entry (".It Cm NAME") and each flag its --help lists appears as mdoc
// macro text ("Fl -sigma", "Fl x").
func TestManDocumentsEveryCommandAndFlag(t *testing.T) {
	page := readManPage(t)
	// A macro argument ends at a space, a newline or a closing delimiter.
	has := func(macro string) bool {
		return regexp.MustCompile(`(?m)` + regexp.QuoteMeta(macro) + `(?:[ ,]|$)`).MatchString(page)
	}
	cmds := helpCommands(t)
	for _, want := range []string{"sr", "denoise", "derain", "models", "convert", "version", "completion"} {
		if !slices.Contains(cmds, want) {
			t.Errorf("ipt --help does not list %s", want)
		}
	}
	for _, cmd := range append([]string{""}, cmds...) {
		if cmd != "" && !regexp.MustCompile(`(?m)^\.It Cm `+regexp.QuoteMeta(cmd)+`\b`).MatchString(page) {
			t.Errorf("%s: the command has no entry (.It Cm %s) in the Commands list", manPage, cmd)
		}
		var args []string
		if cmd != "" {
			args = []string{cmd}
		}
		long, short := helpFlags(t, args...)
		if len(long) == 0 {
			t.Errorf("ipt %s --help: found no flags", cmd)
		}
		for _, f := range long {
			if !has("Fl -" + f) {
				t.Errorf("%s: ipt %s --help lists --%s; the page lacks \"Fl -%s\"", manPage, cmd, f, f)
			}
		}
		for _, f := range short {
			if !has("Fl " + f) {
				t.Errorf("%s: ipt %s --help lists -%s; the page lacks \"Fl %s\"", manPage, cmd, f, f)
			}
		}
	}
	for _, section := range []string{"SYNOPSIS", "DESCRIPTION", "ENVIRONMENT", "FILES", "EXIT STATUS", "EXAMPLES"} {
		if !strings.Contains(page, "\n.Sh "+section+"\n") {
			t.Errorf("%s has no %s section", manPage, section)
		}
	}
	for _, v := range []string{"IPT_WEIGHTS", "IPT_CPU", "XDG_DATA_HOME"} {
		if !has("Ev " + v) {
			t.Errorf("%s does not document %s", manPage, v)
		}
	}
}

// needTool finds a program for a check; outside CI a missing one skips the
// check, in CI (CI=true, where .ci/run installs it) it fails.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed; .ci/run installs it", name)
		}
		t.Skipf("%s is not installed (apt-get install %s); not checked", name, name)
	}
	return p
}

// TestManLint: mandoc finds nothing at warning level or above, and man -l
// (groff, where man is man-db) renders it without warnings.
func TestManLint(t *testing.T) {
	mandoc := needTool(t, "mandoc")
	out, err := exec.Command(mandoc, "-T", "lint", "-W", "warning", manPage).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("mandoc -T lint -W warning %s: %v\n%s", manPage, err, out)
	}
	man, err := exec.LookPath("man")
	if err != nil {
		return
	}
	if v, _ := exec.Command(man, "--version").Output(); !bytes.HasPrefix(v, []byte("man ")) {
		return // not man-db: no --warnings
	}
	cmd := exec.Command(man, "--warnings", "-l", manPage)
	cmd.Env = append(os.Environ(), "MANWIDTH=80", "MANPAGER=cat", "PAGER=cat")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Errorf("man --warnings -l %s: %v\n%s", manPage, err, stderr.Bytes())
	}
	if !bytes.Contains(stdout.Bytes(), []byte("EXIT STATUS")) {
		t.Errorf("man -l %s rendered no EXIT STATUS section:\n%s", manPage, stdout.Bytes())
	}
}

// complete runs the binary as a shell does to complete line in dir.
func completeLine(t *testing.T, dir, line string) []string {
	t.Helper()
	cmd := exec.Command(binary_)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "COMP_LINE="+line, "COMP_POINT="+strconv.Itoa(len(line)))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("COMP_LINE=%q ipt: %v", line, err)
	}
	got := strings.Fields(string(out))
	slices.Sort(got)
	return got
}

func TestCompletionOffersCommandsFlagsAndValues(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"photo.png", "IPT_sr4.pt", "model.safetensors", "notes.txt"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		line      string
		want, not []string
	}{
		{"ipt ", []string{"sr", "denoise", "derain", "models", "convert", "version", "completion"}, nil},
		{"ipt sr --til", []string{"--tiling"}, []string{"--threads"}},
		{"ipt sr --tiling ", []string{"blend", "official"}, []string{"photo.png"}},
		{"ipt sr -x ", []string{"2", "3", "4"}, nil},
		{"ipt denoise --progress ", []string{"auto", "bar", "json", "none"}, nil},
		{"ipt denoise --s", []string{"--sigma", "--suffix"}, nil},
		{"ipt sr -x 4 ", []string{"photo.png", "sub/", "notes.txt"}, nil},
		{"ipt sr --weights ", []string{"IPT_sr4.pt", "model.safetensors", "sub/"}, []string{"photo.png", "notes.txt"}},
		{"ipt derain -o ", []string{"sub/"}, nil},
		{"ipt convert ", []string{"IPT_sr4.pt"}, nil},
		{"ipt completion ", []string{"bash", "fish", "zsh"}, []string{"photo.png"}},
	}
	for _, c := range cases {
		got := completeLine(t, dir, c.line)
		for _, w := range c.want {
			if !slices.Contains(got, w) {
				t.Errorf("%q: completions %q lack %s", c.line, got, w)
			}
		}
		for _, n := range c.not {
			if slices.Contains(got, n) {
				t.Errorf("%q: completions %q include %s", c.line, got, n)
			}
		}
	}
}

func TestCompletionScripts(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		r := runIPT(t, nil, nil, "completion", shell)
		if r.code != 0 || !bytes.Contains(r.stdout, []byte("ipt")) {
			t.Errorf("ipt completion %s: exit %d, script %q, stderr %s", shell, r.code, r.stdout, r.stderr)
			continue
		}
		if bytes.Contains(r.stdout, []byte(binary_)) {
			t.Errorf("ipt completion %s names the build path %s; it must find ipt on PATH", shell, binary_)
		}
		// Where the shell is installed, the script must parse and register ipt.
		sh, err := exec.LookPath(shell)
		if err != nil {
			t.Logf("%s not installed: script not run", shell)
			continue
		}
		dir := t.TempDir()
		script := filepath.Join(dir, "ipt."+shell)
		if err := os.WriteFile(script, r.stdout, 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(sh, "-n", script).CombinedOutput(); err != nil {
			t.Errorf("%s -n: %v\n%s", shell, err, out)
		}
		var cmd *exec.Cmd
		var want string
		switch shell {
		case "bash":
			cmd, want = exec.Command(sh, "-c", `source "$1" && complete -p ipt`, "bash", script), "-C"
		case "zsh":
			cmd, want = exec.Command(sh, "-c", `source "$1" && print -r -- $_comps[ipt]`, "zsh", script), "_bash_complete"
		case "fish":
			// fish completes a line without a terminal: the whole path runs.
			cmd, want = exec.Command(sh, "-c", `source $argv[1]; and complete -C"ipt sr --til"`, script), "--tiling"
		}
		cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(binary_)+string(os.PathListSeparator)+os.Getenv("PATH"),
			"HOME="+dir, "ZDOTDIR="+dir, "XDG_CONFIG_HOME="+dir, "XDG_DATA_HOME="+dir)
		out, err := cmd.CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte(want)) {
			t.Errorf("%s: loading the script and completing: %v, want %q in\n%s", shell, err, want, out)
		}
	}
	if r := runIPT(t, nil, nil, "completion", "tcsh"); r.code != 2 {
		t.Errorf("ipt completion tcsh: exit %d, want 2 (usage)", r.code)
	}
	if r := runIPT(t, nil, nil, "completion"); r.code != 2 {
		t.Errorf("ipt completion: exit %d, want 2 (usage)", r.code)
	}
}
