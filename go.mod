module github.com/ipt-go/ipt

go 1.26.0

require (
	github.com/alecthomas/kong v1.17.0
	github.com/disintegration/imaging v1.6.2
	github.com/dustin/go-humanize v1.1.0
	github.com/ebitengine/purego v0.11.3
	github.com/klauspost/cpuid/v2 v2.4.2
	github.com/nlpodyssey/gopickle v0.2.0
	github.com/posener/complete v1.2.3
	github.com/willabides/kongplete v0.4.0
	golang.org/x/image v0.48.0
	golang.org/x/sync v0.25.0
)

require (
	github.com/hashicorp/errwrap v1.1.0 // indirect
	github.com/hashicorp/go-multierror v1.1.1 // indirect
	github.com/riywo/loginshell v0.0.0-20200815045211-7d26008be1ab // indirect
	golang.org/x/sys v0.50.0 // indirect
)
