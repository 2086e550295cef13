module madviselab/workload

go 1.21
