module github.com/ipt-go/ipt

go 1.26.0

require (
	github.com/alecthomas/kong v1.17.0
	github.com/klauspost/cpuid/v2 v2.4.2
	github.com/nlpodyssey/gopickle v0.2.0
	golang.org/x/sync v0.25.0
)

require golang.org/x/sys v0.41.0 // indirect
