module github.com/roboshop-go/roboshop/topology

go 1.26.0
