module github.com/ipt-go/ipt

go 1.26
