print("tokenledgerd")
