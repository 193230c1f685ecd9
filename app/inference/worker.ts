/** The inference worker's entry file (ModelWorker starts it): the model protocol, sessions as the candidates say. */
import { serveModelWorker } from "./serve-model.ts";

serveModelWorker();
