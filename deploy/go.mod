module github.com/roboshop-go/roboshop/deploy

go 1.26.0

require go.yaml.in/yaml/v3 v3.0.6

require (
	github.com/roboshop-go/roboshop/frontend v0.0.0-00010101000000-000000000000
	golang.org/x/sys v0.49.0
)

replace github.com/roboshop-go/roboshop/frontend => ../frontend
