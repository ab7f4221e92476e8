print("tokenledger")
