module packetjungle.invalid/lab/pause

go 1.24
