// Command catalogue is Roboshop's product catalogue: categories, products and
// search, seeded from catalogue.json on first start.
package main

import "github.com/roboshop-go/roboshop/kit"

func main() { kit.Main(run) }
