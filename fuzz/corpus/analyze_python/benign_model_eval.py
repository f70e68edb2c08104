class Model:
    def __init__(self):
        self.training = True

    def eval(self):
        self.training = False
        return self

    def exec_command(self, cmd):
        return f"simulated {cmd}"


model = Model()
model.eval()
print(model.training, model.exec_command("predict"))
