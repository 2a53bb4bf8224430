export { OrphanService, type Orphan, type OrphanRemoval } from './orphan-service';
