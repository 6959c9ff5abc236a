// Command cart is Roboshop's shopping cart: one cart per token subject (guest or
// user) in Redis, priced from the catalogue service.
package main

import "github.com/roboshop-go/roboshop/kit"

func main() { kit.Main(run) }
